// Package testenv decides what a test does when this machine lacks
// something it needs (a tool, root, the mirror, OVMF): skip on a
// developer's machine, but fail where KILN_VMTEST is set — CI sets it
// through `make test` — so that a green CI run never hides a test that
// did not run.
//
// It is the only place a test may skip: a test elsewhere that calls
// t.Skip or testing.Short fails the repository's skips test.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Required reports whether every test must run: KILN_VMTEST is set.
func Required() bool { return os.Getenv("KILN_VMTEST") != "" }

// ClockAheadEnv names the variable set in the run where the test binaries'
// clock is moved years ahead (see the repository's clock test).
const ClockAheadEnv = "KILN_TEST_CLOCK_AHEAD"

// ClockAhead reports whether this test binary runs with its clock moved
// years ahead.
func ClockAhead() bool { return os.Getenv(ClockAheadEnv) != "" }

// SkipOrFail skips the test with the reason, or fails it when Required.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (KILN_VMTEST is set: this test must run here; `make deps` installs what tests need)", msg)
		return
	}
	t.Skip(msg)
}

// NeedVM is the first call of a VM test. It needs QEMU and OVMF: without
// them the test skips, or fails where KILN_VMTEST is set. In -short mode
// it skips unless required (a VM test takes minutes under TCG), and in the
// clock-ahead run.
func NeedVM(t testing.TB) {
	t.Helper()
	if ClockAhead() {
		t.Skip("VM test: the guest keeps the real clock; the main run boots it")
		return
	}
	Slow(t, "VM test")
	NeedTools(t, "qemu-system-x86_64")
	if _, err := os.Stat(OVMFCode); err != nil {
		SkipOrFail(t, "no OVMF firmware: %v", err)
	}
}

// OVMFCode is the firmware VM tests boot (Debian's ovmf package).
const OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"

// Slow skips a test that builds a whole system when `go test -short`
// asks for quick tests only, unless KILN_VMTEST requires every test.
func Slow(t testing.TB, what string) {
	t.Helper()
	if testing.Short() && !Required() {
		t.Skip(what + " (-short)")
	}
}

// NeedRoot skips (or fails, where required) a test that needs root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "%s needs root", why)
	}
}

// NeedUserNamespaces skips (or fails, where required) a test that makes
// a user namespace as an unprivileged user when this kernel does not let
// one (Debian's kernel.unprivileged_userns_clone, user.max_user_namespaces).
func NeedUserNamespaces(t testing.TB) {
	t.Helper()
	for _, file := range []string{"/proc/sys/kernel/unprivileged_userns_clone", "/proc/sys/user/max_user_namespaces"} {
		if b, err := os.ReadFile(file); err == nil && strings.TrimSpace(string(b)) == "0" {
			SkipOrFail(t, "unprivileged user namespaces are off (%s is 0)", file)
		}
	}
}

// NeedTools skips (or fails, where required) a test when a program it
// runs is not installed.
func NeedTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			SkipOrFail(t, "%s is not installed (make deps installs it): %v", n, err)
		}
	}
}

// NeedLiveArchive is the first call of a test that verifies what the live
// Debian archive signs today. Its validity hangs on the real date (the
// archive's keys expire), so it skips in the clock-ahead run, and in
// -short mode unless required.
func NeedLiveArchive(t testing.TB) {
	t.Helper()
	if ClockAhead() {
		t.Skip("verifies the live archive's signatures, which depend on the real date")
		return
	}
	Slow(t, "needs the Debian mirror")
}

// BootctlList runs the real `bootctl list` on an ESP directory. bootctl
// wants the root of a FAT file system; SYSTEMD_RELAX_ESP_CHECKS lifts the
// FAT check and a bind mount of the directory onto itself, in a private
// mount namespace of a user namespace, makes it a file system root without
// privileges.
func BootctlList(t testing.TB, esp string) string {
	t.Helper()
	NeedTools(t, "bootctl", "unshare")
	cmd := exec.Command("unshare", "--mount", "--map-root-user", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" "$1" && exec bootctl --esp-path="$1" --no-variables --no-pager list`, "sh", esp)
	cmd.Env = append(os.Environ(), "SYSTEMD_RELAX_ESP_CHECKS=1", "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bootctl list: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}
