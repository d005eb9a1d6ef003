package testvm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// VMPlan is one machine's QEMU invocation, computed from options before
// anything runs: the files it keeps in its state directory and the
// command line. ApplyVM creates the files; Start runs the command; an
// interactive caller (kiln vm) runs Command itself.
type VMPlan struct {
	Dir          string      // state directory: vars copy, overlay, sockets
	QEMU         string      // the QEMU binary
	Args         []string    // QEMU's arguments
	VarsTemplate string      // OVMF vars image copied into VarsFile
	VarsFile     string      // this machine's EFI variable store
	Disk         string      // the disk image, absolute; "" for none
	DiskFormat   string      // "raw" or "qcow2"
	Overlay      string      // qcow2 overlay over Disk; "" when the disk is writable
	Backdoor     string      // unix socket of the backdoor console; "" without
	Ports        map[int]int // guest port → host port
	Accel        string      // "tcg" or "kvm"
}

// maxSocketPath is the longest unix socket path Linux accepts.
const maxSocketPath = 107

// PlanVM computes the invocation of a machine whose state lives in dir.
// It probes the host (KVM, free ports, the disk's format) but changes
// nothing.
func PlanVM(dir string, opts ...Option) (*VMPlan, error) {
	return planVM(dir, newConfig(opts))
}

func planVM(dir string, c config) (*VMPlan, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("plan machine %s: %w", c.name, err)
	}
	p := &VMPlan{
		Dir: dir, QEMU: c.qemu, VarsTemplate: c.ovmfVars,
		VarsFile: filepath.Join(dir, "OVMF_VARS.fd"), Ports: map[int]int{},
		Accel: c.accel,
	}
	if p.Accel == "" {
		p.Accel = "tcg"
		if kvmUsable(c.qemu, c.ovmfCode) {
			p.Accel = "kvm"
		}
	}
	if c.memoryMB <= 0 || c.cpus <= 0 {
		return nil, fmt.Errorf("plan machine %s: memory %d MiB and %d CPUs must be positive", c.name, c.memoryMB, c.cpus)
	}
	args := []string{
		"-name", c.name,
		"-machine", "q35", "-accel", p.Accel,
		"-m", strconv.Itoa(c.memoryMB), "-smp", strconv.Itoa(c.cpus),
		"-nodefaults", "-no-user-config", "-nographic",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + c.ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + p.VarsFile,
	}
	if p.Accel == "kvm" {
		args = append(args, "-cpu", "host")
	}
	if c.disk != "" {
		if p.Disk, err = filepath.Abs(c.disk); err != nil {
			return nil, fmt.Errorf("plan machine %s: %w", c.name, err)
		}
		switch p.DiskFormat = c.diskFormat; p.DiskFormat {
		case "":
			if p.DiskFormat, err = diskFormat(p.Disk); err != nil {
				return nil, fmt.Errorf("plan machine %s: %w", c.name, err)
			}
		case "raw", "qcow2":
		default:
			return nil, fmt.Errorf("plan machine %s: disk format %q: want raw or qcow2", c.name, p.DiskFormat)
		}
		file, format := p.Disk, p.DiskFormat
		if !c.writable {
			p.Overlay = filepath.Join(dir, "disk.qcow2")
			file, format = p.Overlay, "qcow2"
		}
		drive := "format=" + format + ",file=" + file
		switch c.diskBus {
		case "", BusVirtio:
			args = append(args, "-drive", "if=virtio,"+drive)
		case BusNVMe:
			args = append(args, "-drive", "if=none,id=disk0,"+drive, "-device", "nvme,drive=disk0,serial=kiln0")
		case BusSATA:
			args = append(args, "-drive", "if=none,id=disk0,"+drive, "-device", "ide-hd,drive=disk0,bus=ide.0")
		case BusVirtioSCSI:
			args = append(args, "-drive", "if=none,id=disk0,"+drive,
				"-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-hd,drive=disk0,bus=scsi0.0")
		default:
			return nil, fmt.Errorf("plan machine %s: disk bus %q: want virtio, nvme, sata or virtio-scsi", c.name, c.diskBus)
		}
	}
	if c.network {
		netdev := "user,id=net0"
		for _, f := range c.forwards {
			host := f.host
			if host == 0 {
				if host, err = FreeHostPort(); err != nil {
					return nil, fmt.Errorf("plan machine %s: %w", c.name, err)
				}
			}
			p.Ports[f.guest] = host
			netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", host, f.guest)
		}
		// romfile= drops the card's option ROM, so OVMF tries no network
		// boot before (or instead of) the disk.
		args = append(args, "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0,romfile=")
	} else if len(c.forwards) > 0 {
		return nil, fmt.Errorf("plan machine %s: port forwards need the network", c.name)
	}
	args = append(args, "-device", "virtio-rng-pci")
	if c.backdoor && !c.interactive {
		p.Backdoor = filepath.Join(dir, "backdoor.sock")
		if len(p.Backdoor) > maxSocketPath {
			return nil, fmt.Errorf("plan machine %s: socket path %s is longer than %d bytes", c.name, p.Backdoor, maxSocketPath)
		}
		args = append(args,
			"-device", "virtio-serial-pci",
			"-chardev", "socket,id=backdoor,path="+p.Backdoor+",server=on,wait=off",
			"-device", "virtconsole,chardev=backdoor")
	}
	if c.interactive {
		args = append(args, "-serial", "mon:stdio")
	} else {
		args = append(args, "-serial", "stdio")
	}
	p.Args = append(args, c.extraArgs...)
	return p, nil
}

// diskFormat tells qcow2 from raw by the qcow2 magic.
func diskFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open disk: %w", err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read disk %s: %w", path, err)
	}
	if string(magic[:]) == "QFI\xfb" {
		return "qcow2", nil
	}
	return "raw", nil
}

// ApplyVM creates the state directory, the machine's copy of the EFI
// variable store and the disk overlay, keeping those that exist (they
// carry the machine's state across its reboots).
func ApplyVM(p *VMPlan) error {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return fmt.Errorf("prepare machine: %w", err)
	}
	if _, err := os.Stat(p.VarsFile); errors.Is(err, os.ErrNotExist) {
		vars, err := os.ReadFile(p.VarsTemplate)
		if err != nil {
			return fmt.Errorf("prepare machine: read OVMF vars: %w", err)
		}
		if err := fsutil.WriteFile(p.VarsFile, vars, 0o644); err != nil {
			return fmt.Errorf("prepare machine: %w", err)
		}
	}
	if p.Overlay != "" {
		if _, err := os.Stat(p.Overlay); errors.Is(err, os.ErrNotExist) {
			cmd := exec.Command(qemuImg(p.QEMU), p.overlayArgs()...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("prepare machine: create overlay: %v: %s", err, bytes.TrimSpace(out))
			}
		}
	}
	return nil
}

func (p *VMPlan) overlayArgs() []string {
	return []string{"create", "-q", "-f", "qcow2", "-F", p.DiskFormat, "-b", p.Disk, p.Overlay}
}

// qemuImg finds qemu-img next to the QEMU binary, else on PATH.
func qemuImg(qemu string) string {
	if strings.Contains(qemu, "/") {
		if c := filepath.Join(filepath.Dir(qemu), "qemu-img"); fileExists(c) {
			return c
		}
	}
	return "qemu-img"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Command returns QEMU's argv.
func (p *VMPlan) Command() []string { return append([]string{p.QEMU}, p.Args...) }

// String returns a shell script that recreates the state directory and
// runs QEMU, to reproduce a run by hand.
func (p *VMPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mkdir -p %s && \\\n", shellQuote(p.Dir))
	fmt.Fprintf(&b, "  cp -n %s %s && \\\n", shellQuote(p.VarsTemplate), shellQuote(p.VarsFile))
	if p.Overlay != "" {
		fmt.Fprintf(&b, "  { test -e %s || %s; } && \\\n", shellQuote(p.Overlay), shellJoin(append([]string{qemuImg(p.QEMU)}, p.overlayArgs()...)))
	}
	b.WriteString("  ")
	b.WriteString(shellJoin(p.Command()))
	return b.String()
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ForwardedPorts lists the forwards as "host→guest", sorted by guest port.
func (p *VMPlan) ForwardedPorts() []string {
	guests := make([]int, 0, len(p.Ports))
	for g := range p.Ports {
		guests = append(guests, g)
	}
	sort.Ints(guests)
	out := make([]string, len(guests))
	for i, g := range guests {
		out[i] = fmt.Sprintf("127.0.0.1:%d→%d", p.Ports[g], g)
	}
	return out
}

// FreeHostPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreeHostPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
