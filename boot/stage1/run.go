// Package stage1 is kiln's stage 1: the init program of the initrd. It
// mounts /proc, /sys and /dev, loads the kernel modules the root device
// needs, waits for the root file system, mounts it and switches root into
// the toplevel's init (stage 2).
//
// The pure parts (the kernel command line, the ext4 superblock reader) are
// ordinary functions tested anywhere; the initrd's configuration it reads
// is toplevel.Stage1Config. Run only works as pid 1 in an initrd. It never
// starts a shell: none exists.
package stage1

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/toplevel"
)

// NewRoot is where stage 1 mounts the root file system before switching.
const NewRoot = "/mnt-root"

// Options tune Run.
type Options struct {
	// Log receives progress lines (the caller prints them on the console).
	Log func(format string, a ...any)
	// Config is the initrd's configuration file; "" means toplevel.Stage1ConfigPath.
	Config string
	// Timeout for the root device; 0 means 30 s.
	Timeout time.Duration
}

// Run is stage 1 as pid 1 of an initrd: it mounts the kernel file systems,
// loads the modules, mounts the root and execs its init. It returns only on
// failure; the caller then reports the error and reboots.
func Run(ctx context.Context, opts Options) error {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	logf("started (%s since kernel start)", Uptime())
	if err := mountKernelFS(""); err != nil {
		return err
	}
	cfgPath := opts.Config
	if cfgPath == "" {
		cfgPath = toplevel.Stage1ConfigPath
	}
	cfg, err := toplevel.ReadStage1Config(cfgPath)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	boot, err := Resolve(cfg, ParseCmdline(string(raw)))
	if err != nil {
		return err
	}
	n, err := LoadModules(cfg.Modules, logf)
	if err != nil {
		return err
	}
	logf("loaded %d of %d modules (%s)", n, len(cfg.Modules), Uptime())
	dev, err := Finder{SysBlock: "/sys/class/block", Dev: "/dev", Timeout: opts.Timeout, Log: logf}.Find(ctx, boot.Root)
	if err != nil {
		return err
	}
	if err := mountRoot(dev, boot); err != nil {
		return err
	}
	logf("mounted %s (%s) on %s (%s)", dev, boot.Root, NewRoot, Uptime())
	root := NewRoot
	if boot.Persist != "" {
		if err := ephemeralRoot(boot.Persist); err != nil {
			return err
		}
		root = TmpRoot
		logf("root is a tmpfs; %s on %s, %s/kiln on /kiln", dev, boot.Persist, boot.Persist)
	}
	if err := switchRoot(root); err != nil {
		return err
	}
	if _, err := os.Stat(boot.Init); err != nil {
		return fmt.Errorf("init %s on the root file system: %w", boot.Init, err)
	}
	logf("exec %s (%s since kernel start)", boot.Init, Uptime())
	if err := unix.Exec(boot.Init, []string{boot.Init}, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", boot.Init, err)
	}
	return nil
}

// Boot is what stage 1 does, resolved from the config and the command
// line (the command line wins).
type Boot struct {
	Root      toplevel.DeviceSpec
	FSType    string
	Flags     string // rootflags=
	ReadWrite bool
	Init      string
	// Persist is where the root device goes when / is a tmpfs
	// (kiln.persist=); "" for a root on the device.
	Persist string
}

// Resolve merges the initrd's config with the kernel command line.
func Resolve(cfg *toplevel.Stage1Config, cmd Cmdline) (Boot, error) {
	b := Boot{FSType: "ext4", Flags: cmd.RootFlags, ReadWrite: cmd.RW, Init: cfg.Root.Init}
	spec := cfg.Root.Spec
	if cmd.Root != "" {
		spec = cmd.Root
	}
	if spec == "" {
		return Boot{}, errors.New("no root device: neither root= on the kernel command line nor root.spec in the stage 1 config")
	}
	var err error
	if b.Root, err = toplevel.ParseDeviceSpec(spec); err != nil {
		return Boot{}, fmt.Errorf("root device: %w", err)
	}
	if cfg.Root.FSType != "" {
		b.FSType = cfg.Root.FSType
	}
	if cmd.RootFSType != "" {
		b.FSType = cmd.RootFSType
	}
	if cmd.Init != "" {
		b.Init = cmd.Init
	}
	if b.Init == "" {
		return Boot{}, errors.New("no init: the kernel command line needs init=<toplevel>/init")
	}
	if !filepath.IsAbs(b.Init) {
		return Boot{}, fmt.Errorf("init %q: not an absolute path", b.Init)
	}
	if p, ok := cmd.Params[toplevel.PersistParam]; ok {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" || p == "/kiln" {
			return Boot{}, fmt.Errorf("%s=%q: want an absolute, clean path other than / and /kiln", toplevel.PersistParam, p)
		}
		b.Persist = p
	}
	return b, nil
}

// LoadModules loads each module file in order with finit_module. A module
// already loaded (EEXIST) counts as loaded. A module the kernel refuses is
// skipped and reported to logf: an initrd for generic hardware carries
// drivers for devices this machine lacks (hv_vmbus fails with ENODEV off
// Hyper-V, and then its users with unknown symbols), and a missing driver
// the root needs shows as the root device not appearing. A module file
// missing from the initrd is a broken initrd, and an error.
func LoadModules(paths []string, logf func(format string, a ...any)) (int, error) {
	n := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return n, fmt.Errorf("load module: %w", err)
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			logf("skip module %s: %v", filepath.Base(p), err)
			continue
		}
		n++
	}
	return n, nil
}

// mountKernelFS mounts /proc, /sys and /dev (devtmpfs) under root, keeping
// whatever is already mounted there.
func mountKernelFS(root string) error {
	for _, m := range []struct {
		dir, fstype string
		flags       uintptr
	}{
		{"/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/dev", "devtmpfs", unix.MS_NOSUID},
	} {
		dir := root + m.dir
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("mount %s: %w", dir, err)
		}
		err := unix.Mount(m.fstype, dir, m.fstype, m.flags, "")
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, dir, err)
		}
	}
	return nil
}

func mountRoot(dev string, b Boot) error {
	if err := os.MkdirAll(NewRoot, 0o755); err != nil {
		return fmt.Errorf("mount root: %w", err)
	}
	var flags uintptr
	if !b.ReadWrite {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount(dev, NewRoot, b.FSType, flags, b.Flags); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", dev, b.FSType, NewRoot, err)
	}
	return nil
}

// TmpRoot is where stage 1 mounts the tmpfs of an ephemeral root.
const TmpRoot = "/mnt-tmproot"

// ephemeralRoot makes a tmpfs the new root: the root device, mounted on
// NewRoot, moves to persist inside it, and its kiln/ (store, generations,
// kiln's state) is bound on /kiln.
func ephemeralRoot(persist string) error {
	if err := os.MkdirAll(TmpRoot, 0o755); err != nil {
		return fmt.Errorf("ephemeral root: %w", err)
	}
	if err := unix.Mount("tmpfs", TmpRoot, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", TmpRoot, err)
	}
	disk, kiln := TmpRoot+persist, TmpRoot+"/kiln"
	for _, d := range []string{disk, kiln} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("ephemeral root: %w", err)
		}
	}
	if err := unix.Mount(NewRoot, disk, "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to %s: %w", NewRoot, disk, err)
	}
	if err := unix.Mount(disk+"/kiln", kiln, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s/kiln on /kiln: %w", persist, err)
	}
	return nil
}

// switchRoot moves /dev, /proc and /sys under newRoot, deletes the
// initramfs's files (they would pin its memory), makes newRoot the root
// and enters it.
func switchRoot(newRoot string) error {
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		target := newRoot + d
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("switch root: %w", err)
		}
		if err := unix.Mount(d, target, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s to %s: %w", d, target, err)
		}
	}
	if err := os.Chdir(newRoot); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat("/", &st); err != nil {
		return fmt.Errorf("switch root: stat /: %w", err)
	}
	removeSameDevice("/", st.Dev, newRoot)
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", newRoot, err)
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	return nil
}

// removeSameDevice deletes everything under dir that lives on device dev,
// never crossing into other file systems and never touching keep. Errors
// are ignored: a file left behind only costs memory.
func removeSameDevice(dir string, dev uint64, keep string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if p == keep {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != dev {
			continue
		}
		if e.IsDir() {
			removeSameDevice(p, dev, keep)
			unix.Rmdir(p)
			continue
		}
		unix.Unlink(p)
	}
}

// Uptime is the time since the kernel started (CLOCK_BOOTTIME).
func Uptime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano()).Round(time.Millisecond)
}

// Fail reports a fatal stage 1 error on the console and in the kernel log,
// waits so a human can read it, and reboots. It does not return.
func Fail(err error, wait time.Duration) {
	msg := "kiln stage 1: " + strings.TrimSpace(err.Error())
	if f, e := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); e == nil {
		fmt.Fprintf(f, "<2>%s\n", msg)
		f.Close()
	}
	if f, e := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0); e == nil {
		fmt.Fprintf(f, "%s\nrebooting in %v\n", msg, wait)
		f.Close()
	}
	time.Sleep(wait)
	unix.Sync()
	for {
		unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
		time.Sleep(time.Second)
	}
}
