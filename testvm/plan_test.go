package testvm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/internal/testenv"
)

// TestPlanGolden pins the QEMU command lines, with the state directory
// and disk paths replaced by $DIR and $DISK.
func TestPlanGolden(t *testing.T) {
	tmp := t.TempDir()
	raw := filepath.Join(tmp, "disk.img")
	qcow := filepath.Join(tmp, "disk.qcow2")
	os.WriteFile(raw, make([]byte, 512), 0o644)
	os.WriteFile(qcow, []byte("QFI\xfb\x00\x00\x00\x03"), 0o644)
	dir := filepath.Join(tmp, "state")
	tests := []struct {
		name string
		opts []Option
	}{
		{"defaults", nil},
		{"disk-overlay", []Option{WithDisk(raw), WithPortForward(2222, 22), WithPortForward(8080, 80)}},
		{"writable-qcow2", []Option{WithWritableDisk(qcow), WithMemory(2048), WithCPUs(2), WithName("server")}},
		{"interactive", []Option{WithDisk(raw), WithInteractive(), WithPortForward(2222, 22)}},
		{"bare", []Option{WithoutBackdoor(), WithoutNetwork(), WithArgs("-S"), WithOVMF("/fw/code.fd", "/fw/vars.fd")}},
		{"kvm", []Option{WithAccel("kvm"), WithQEMU("/opt/qemu/bin/qemu-system-x86_64")}},
		{"format-given", []Option{WithDisk("/not/yet/built.img"), WithDiskFormat("raw")}},
		{"bus-nvme", []Option{WithDisk(raw), WithDiskBus(BusNVMe)}},
		{"bus-sata", []Option{WithDisk(raw), WithDiskBus(BusSATA)}},
		{"bus-virtio-scsi", []Option{WithWritableDisk(raw), WithDiskBus(BusVirtioSCSI)}},
	}
	var got strings.Builder
	for _, tc := range tests {
		p, err := PlanVM(dir, append([]Option{WithAccel("tcg")}, tc.opts...)...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		s := strings.NewReplacer(dir, "$DIR", raw, "$DISK", qcow, "$DISK").Replace(p.String())
		got.WriteString("# " + tc.name + "\n" + s + "\n\n")
	}
	golden.Check(t, filepath.Join("testdata", "plans.golden"), []byte(got.String()))
}

func TestPlanRejects(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("x", 100))
	for _, tc := range []struct {
		name string
		dir  string
		opts []Option
	}{
		{"missing disk", dir, []Option{WithDisk(filepath.Join(dir, "nope.img"))}},
		{"zero memory", dir, []Option{WithMemory(0)}},
		{"unknown format", dir, []Option{WithDisk("/x.img"), WithDiskFormat("vmdk")}},
		{"forward without network", dir, []Option{WithoutNetwork(), WithPortForward(1, 2)}},
		{"unknown bus", dir, []Option{WithDisk("/x.img"), WithDiskFormat("raw"), WithDiskBus("floppy")}},
		{"socket path too long", long, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := PlanVM(tc.dir, append([]Option{WithAccel("tcg")}, tc.opts...)...); err == nil {
				t.Error("PlanVM succeeded")
			}
		})
	}
}

func TestApplyVMKeepsState(t *testing.T) {
	if _, err := os.Stat(DefaultOVMFVars); err != nil {
		testenv.SkipOrFail(t, "%v", "no OVMF vars")
	}
	dir := filepath.Join(t.TempDir(), "state")
	p, err := PlanVM(dir, WithAccel("tcg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyVM(p); err != nil {
		t.Fatal(err)
	}
	if err := SetVariableFile(p.VarsFile, OneShotEntry(GenerationEntry(2))); err != nil {
		t.Fatal(err)
	}
	if err := ApplyVM(p); err != nil {
		t.Fatal(err)
	}
	vars, err := ReadVariablesFile(p.VarsFile)
	if err != nil || len(vars) == 0 || vars[len(vars)-1].Name != "LoaderEntryOneShot" {
		t.Errorf("second ApplyVM lost the machine's variables: %v, %v", vars, err)
	}
}
