package testvm

import (
	"os/exec"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
)

// TestKVMProbe runs the probe and checks it against a plan: either answer
// is right for some machine, and the plan must follow it.
func TestKVMProbe(t *testing.T) {
	if _, err := exec.LookPath(defaultQEMU); err != nil {
		testenv.SkipOrFail(t, "%v", "no QEMU")
	}
	start := time.Now()
	ok := kvmCreatesVM() && kvmRunsFirmware(defaultQEMU, DefaultOVMFCode)
	took := time.Since(start)
	t.Logf("KVM usable: %v (probe took %v)", ok, took)
	p, err := PlanVM(t.TempDir(), WithoutBackdoor())
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]string{true: "kvm", false: "tcg"}[ok]; p.Accel != want {
		t.Errorf("plan accel = %q, want %q", p.Accel, want)
	}
}
