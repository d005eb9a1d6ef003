package testvm

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// KVM is used only where it really runs a guest. On some machines
// /dev/kvm opens and even creates VMs, yet the first guest instructions
// stop with "KVM internal error" (measured on the project's build
// machines), so the probe runs the firmware for a moment.

var kvmProbe struct {
	once sync.Once
	ok   bool
}

// kvmUsable reports whether QEMU can run OVMF under KVM. The answer is
// computed once per process.
func kvmUsable(qemu, ovmfCode string) bool {
	kvmProbe.once.Do(func() {
		kvmProbe.ok = kvmCreatesVM() && kvmRunsFirmware(qemu, ovmfCode)
	})
	return kvmProbe.ok
}

// kvmCreatesVM opens /dev/kvm and creates (and drops) a VM.
func kvmCreatesVM() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	const kvmCreateVM = 0xAE01
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), kvmCreateVM, 0)
	if errno != 0 {
		return false
	}
	unix.Close(int(fd))
	return true
}

// kvmRunsFirmware boots OVMF under KVM until it prints on the serial
// console (a working KVM does within a second or two), and gives up on
// any error, an exit, or after 10 seconds.
func kvmRunsFirmware(qemu, ovmfCode string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-machine", "q35", "-accel", "kvm", "-m", "128",
		"-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return false
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return false
	}
	if err := cmd.Start(); err != nil {
		return false
	}
	defer cmd.Wait()
	defer cancel()
	verdict := make(chan bool, 2)
	go func() { // the firmware printed: KVM runs guests
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) != "" {
				verdict <- true
				return
			}
		}
		verdict <- false
	}()
	go func() { // "KVM internal error", "failed to initialize kvm", …
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if l := strings.ToLower(sc.Text()); strings.Contains(l, "error") || strings.Contains(l, "fail") {
				verdict <- false
				return
			}
		}
	}()
	select {
	case ok := <-verdict:
		return ok
	case <-ctx.Done():
		return false
	}
}
