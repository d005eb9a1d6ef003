package toplevel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/internal/versioned"
)

const testToplevel = "/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-kiln-system-demo"

func testBootspec() *Bootspec {
	return &Bootspec{
		Version:      BootspecVersion,
		Label:        "kiln 0.1.0 (Linux 6.1.0-56-cloud-amd64)",
		Toplevel:     testToplevel,
		Init:         testToplevel + "/init",
		Kernel:       "/kiln/store/1111111111111111111111111111111a-linux-image-6.1.0-56-cloud-amd64/boot/vmlinuz-6.1.0-56-cloud-amd64",
		Initrd:       "/kiln/store/2222222222222222222222222222222b-initrd",
		KernelParams: []string{"root=LABEL=kiln-root", "rootfstype=ext4", "rw", "console=ttyS0"},
		KilnVersion:  "0.1.0",
		Loader:       &Loader{Timeout: 1, MaxGenerations: 5, ConsoleMode: "max"},
	}
}

func TestBootspecRoundTrip(t *testing.T) {
	b := testBootspec()
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "boot.json"), data)
	path := filepath.Join(t.TempDir(), "boot.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBootspec(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(b, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
}

func TestParseBootspecErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
		is               error
	}{
		{name: "not json", json: "{", want: "decode bootspec"},
		{name: "version", json: `{"version":4}`, want: "version 4 not supported", is: versioned.ErrUnsupported},
		{name: "no kernel", json: `{"version":1,"toplevel":"/t","init":"/t/init","initrd":"/i"}`, want: "kernel is empty"},
		{name: "relative", json: `{"version":1,"toplevel":"t","init":"/t/init","kernel":"/k","initrd":"/i"}`, want: `toplevel "t" is not absolute`},
		{name: "parameter adds an entry line", json: `{"version":1,"toplevel":"/t","init":"/t/init","kernel":"/k","initrd":"/i","kernel_params":["quiet\ninitrd /evil"]}`,
			want: `kernel parameter "quiet\ninitrd /evil" is empty or has a line break`},
		{name: "kernel with a newline", json: `{"version":1,"toplevel":"/t","init":"/t/init","kernel":"/k\noptions x","initrd":"/i"}`,
			want: `kernel "/k\noptions x" contains white space or a line break`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBootspec([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want errors.Is %v", err, tc.is)
			}
		})
	}
}

// A version 1 bootspec (before loader settings) still reads, without them.
func TestReadBootspecVersion1(t *testing.T) {
	v1 := `{"version":1,"label":"kiln 0.1.0 (Linux 6.1.0-test)","toplevel":"/kiln/store/x-t","init":"/kiln/store/x-t/init",` +
		`"kernel":"/kiln/store/x-t/kernel","initrd":"/kiln/store/x-t/initrd","kernel_params":["rw"],"kiln_version":"0.1.0"}`
	b, err := ParseBootspec([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != 1 || b.Loader != nil || b.Kernel != "/kiln/store/x-t/kernel" {
		t.Errorf("version 1 bootspec read as %+v", b)
	}
}
