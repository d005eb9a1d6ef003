package toplevel

import (
	"strings"
	"testing"
)

func TestParseStage1Config(t *testing.T) {
	tests := []struct {
		name, json, wantErr string
	}{
		{"contract example", `{"version":1,"modules":["/lib/modules/6.1.0-31-cloud-amd64/kernel/drivers/virtio/virtio_pci.ko"],"root":{"spec":"LABEL=kiln-root"}}`, ""},
		{"uuid root", `{"version":1,"modules":[],"root":{"spec":"UUID=0a1b2c3d-0000-4000-8000-000000000001","fstype":"ext4"}}`, ""},
		{"no root", `{"version":1}`, ""},
		{"future", `{"version":2}`, "version 2 not supported"},
		{"unknown field", `{"version":1,"x":1}`, "unknown field"},
		{"relative module", `{"version":1,"modules":["virtio.ko"]}`, "absolute clean path"},
		{"compressed module", `{"version":1,"modules":["/lib/modules/v/a.ko.xz"]}`, "uncompressed .ko"},
		{"dup module", `{"version":1,"modules":["/a.ko","/a.ko"]}`, "listed twice"},
		{"bad root", `{"version":1,"root":{"spec":"sda1"}}`, "want LABEL="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseStage1Config([]byte(tc.json))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				b, err := c.Encode()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ParseStage1Config(b); err != nil {
					t.Fatalf("encoded config does not parse: %v\n%s", err, b)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseDeviceSpec(t *testing.T) {
	tests := []struct {
		in   string
		want DeviceSpec
		ok   bool
	}{
		{"LABEL=kiln-root", DeviceSpec{Label: "kiln-root"}, true},
		{"UUID=0A1B2C3D-0000-4000-8000-000000000001", DeviceSpec{UUID: "0a1b2c3d-0000-4000-8000-000000000001"}, true},
		{"/dev/vda2", DeviceSpec{Path: "/dev/vda2"}, true},
		{"LABEL=", DeviceSpec{}, false},
		{"/dev/../etc/x", DeviceSpec{}, false},
		{"vda", DeviceSpec{}, false},
	}
	for _, tc := range tests {
		got, err := ParseDeviceSpec(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDeviceSpec(%q) = %+v, %v; want %+v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
