package testvm

import (
	"io"
	"time"
)

// Defaults.
const (
	DefaultMemoryMB = 1024
	DefaultCPUs     = 1
	// DefaultTimeout bounds each wait. Under TCG a Debian system reaches
	// multi-user.target about 16 s after QEMU starts, up to three times
	// slower on a busy machine.
	DefaultTimeout  = 5 * time.Minute
	DefaultOVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	DefaultOVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	defaultQEMU     = "qemu-system-x86_64"
)

// Option configures a machine.
type Option func(*config)

type forward struct{ host, guest int }

type config struct {
	name        string
	qemu        string
	disk        string
	diskFormat  string
	diskBus     string
	writable    bool
	memoryMB    int
	cpus        int
	forwards    []forward
	serialLog   io.Writer
	ovmfCode    string
	ovmfVars    string
	extraArgs   []string
	timeout     time.Duration
	interactive bool
	backdoor    bool
	network     bool
	accel       string
}

func newConfig(opts []Option) config {
	c := config{
		name: "machine", qemu: defaultQEMU, memoryMB: DefaultMemoryMB, cpus: DefaultCPUs,
		ovmfCode: DefaultOVMFCode, ovmfVars: DefaultOVMFVars, timeout: DefaultTimeout,
		backdoor: true, network: true,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithName names the machine in logs and in QEMU's -name.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithDisk attaches a disk image (raw or qcow2) as a virtio-blk disk
// through a qcow2 overlay in the machine's state directory: the image
// itself is never modified, and writes survive reboots of this machine.
func WithDisk(path string) Option {
	return func(c *config) { c.disk, c.writable = path, false }
}

// WithWritableDisk attaches a disk image that the guest modifies in place.
func WithWritableDisk(path string) Option {
	return func(c *config) { c.disk, c.writable = path, true }
}

// WithDiskFormat states the disk's format ("raw" or "qcow2") instead of
// reading it from the image, which then need not exist yet.
func WithDiskFormat(format string) Option { return func(c *config) { c.diskFormat = format } }

// Disk buses WithDiskBus attaches the disk to.
const (
	BusVirtio     = "virtio"      // virtio-blk (the default)
	BusNVMe       = "nvme"        // an NVMe controller
	BusSATA       = "sata"        // q35's AHCI controller
	BusVirtioSCSI = "virtio-scsi" // a SCSI disk behind virtio-scsi
)

// WithDiskBus attaches the disk through another controller than
// virtio-blk, as a physical machine or another hypervisor would.
func WithDiskBus(bus string) Option { return func(c *config) { c.diskBus = bus } }

// WithMemory sets the guest's memory in MiB (default 1024).
func WithMemory(mb int) Option { return func(c *config) { c.memoryMB = mb } }

// WithCPUs sets the number of virtual CPUs (default 1).
func WithCPUs(n int) Option { return func(c *config) { c.cpus = n } }

// WithPortForward forwards TCP hostPort on 127.0.0.1 to guestPort through
// QEMU's user-mode network. hostPort 0 picks a free port when the
// machine starts; ForwardedPort tells which.
func WithPortForward(hostPort, guestPort int) Option {
	return func(c *config) { c.forwards = append(c.forwards, forward{hostPort, guestPort}) }
}

// WithFreeHostPort forwards a free host port to guestPort.
func WithFreeHostPort(guestPort int) Option { return WithPortForward(0, guestPort) }

// WithSerialLog copies the serial console to w as it arrives.
func WithSerialLog(w io.Writer) Option { return func(c *config) { c.serialLog = w } }

// WithOVMF sets the firmware code and the variable store template; the
// machine boots from a private copy of vars.
func WithOVMF(code, vars string) Option {
	return func(c *config) { c.ovmfCode, c.ovmfVars = code, vars }
}

// WithArgs appends arguments to QEMU's command line.
func WithArgs(args ...string) Option {
	return func(c *config) { c.extraArgs = append(c.extraArgs, args...) }
}

// WithTimeout bounds each wait (default 5 minutes).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithoutBackdoor leaves out the virtio console of the backdoor shell,
// for images that do not carry it (or firmware-only boots).
func WithoutBackdoor() Option { return func(c *config) { c.backdoor = false } }

// WithoutNetwork leaves out the network card.
func WithoutNetwork() Option { return func(c *config) { c.network = false } }

// WithQEMU sets the QEMU binary (default qemu-system-x86_64 from PATH).
func WithQEMU(path string) Option { return func(c *config) { c.qemu = path } }

// WithAccel forces an accelerator ("tcg" or "kvm"); by default KVM is
// used only when /dev/kvm can create a VM.
func WithAccel(accel string) Option { return func(c *config) { c.accel = accel } }

// WithInteractive puts the serial console and QEMU's monitor on QEMU's
// own stdin and stdout (Ctrl-A X quits, Ctrl-A C toggles the monitor),
// for a person at a terminal. Such a plan is run by the caller, not by
// Start.
func WithInteractive() Option { return func(c *config) { c.interactive = true } }
