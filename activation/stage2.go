package activation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// systemdCandidates are tried in order for the program stage 2 execs.
var systemdCandidates = []string{
	"/run/current-system/systemd/lib/systemd/systemd",
	"/usr/lib/systemd/systemd",
}

// Stage2 is a toplevel's init as pid 1: it mounts what systemd expects to
// find (/proc, /sys, /dev, /dev/pts, /dev/shm, /run as tmpfs and a
// setuid-capable tmpfs on /run/wrappers), binds /kiln/store read-only,
// activates toplevel and execs systemd, passing on init's arguments. It
// logs to /dev/kmsg. Activation errors are logged and booting goes on;
// Stage2 returns only when it cannot exec systemd.
func Stage2(ctx context.Context, top string) error {
	if os.Getpid() != 1 {
		return fmt.Errorf("stage 2 runs only as pid 1 (this is pid %d)", os.Getpid())
	}
	log := newKmsgLog()
	defer log.close()
	log.printf(kmsgInfo, "kiln stage 2: activating %s (%s since kernel start)", top, uptime())
	for _, m := range stage2Mounts {
		if err := mountOnce(m); err != nil {
			log.printf(kmsgErr, "kiln stage 2: %v", err)
		}
	}
	if err := remountRootRW(); err != nil {
		log.printf(kmsgErr, "kiln stage 2: %v", err)
	}
	if err := bindReadOnly("/kiln/store"); err != nil {
		log.printf(kmsgErr, "kiln stage 2: %v", err)
	}
	// Plan lines go out at debug level: a first boot plans hundreds of
	// them, and printing them on a serial console would slow the boot.
	// Warnings are shown.
	a := Activator{Log: func(format string, args ...any) {
		level := kmsgDebug
		if strings.HasPrefix(fmt.Sprintf(format, args...), "warning:") {
			level = kmsgWarning
		}
		log.printf(level, "kiln stage 2: "+format, args...)
	}}
	if err := a.Activate("/", top, Boot); err != nil {
		log.printf(kmsgErr, "kiln stage 2: %v", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stage 2: %w", err)
	}
	var errs []error
	for _, p := range systemdCandidates {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, err)
			continue
		}
		log.printf(kmsgInfo, "kiln stage 2: exec %s (%s since kernel start)", p, uptime())
		log.close()
		err := unix.Exec(p, append([]string{p}, os.Args[1:]...), os.Environ())
		errs = append(errs, fmt.Errorf("exec %s: %w", p, err))
	}
	return fmt.Errorf("stage 2: no systemd to run: %w", errors.Join(errs...))
}

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	mode                   os.FileMode
}

var stage2Mounts = []mount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o555},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o555},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", 0o755},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=620,ptmxmode=000", 0o755},
	{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", 0o1777},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755", 0o755},
	// Setuid wrappers need a mount without nosuid.
	{"tmpfs", "/run/wrappers", "tmpfs", unix.MS_NODEV, "mode=0755", 0o755},
}

// mountOnce mounts m unless something is already mounted on its target.
func mountOnce(m mount) error {
	if err := os.MkdirAll(m.target, m.mode.Perm()); err != nil {
		return fmt.Errorf("mount %s: %w", m.target, err)
	}
	if isMountPoint(m.target) {
		return nil
	}
	if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
	}
	return nil
}

// isMountPoint reports whether dir is on another device than its parent.
func isMountPoint(dir string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(dir, &st) != nil || unix.Lstat(filepath.Join(dir, ".."), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev || st.Ino == parent.Ino
}

// remountRootRW makes / writable when it was mounted read-only ("ro" on
// the kernel command line): activation writes /etc.
func remountRootRW() error {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return fmt.Errorf("statfs /: %w", err)
	}
	if st.Flags&unix.ST_RDONLY == 0 {
		return nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT, ""); err != nil {
		return fmt.Errorf("remount / read-write: %w", err)
	}
	return nil
}

// bindReadOnly binds dir onto itself and remounts the bind ro,nodev, so
// nothing on the machine writes into the store by accident.
func bindReadOnly(dir string) error {
	if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", dir, err)
	}
	return nil
}

// kmsgLog writes lines to the kernel log (and to stderr, the console, when
// /dev/kmsg cannot be opened).
type kmsgLog struct{ f *os.File }

func newKmsgLog() *kmsgLog {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return &kmsgLog{}
	}
	return &kmsgLog{f: f}
}

// Kernel log levels.
const (
	kmsgErr     = 3
	kmsgWarning = 4
	kmsgInfo    = 6
	kmsgDebug   = 7
)

func (l *kmsgLog) printf(level int, format string, a ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, a...), "\n")
	if l.f == nil {
		if level < kmsgDebug {
			fmt.Fprintln(os.Stderr, msg)
		}
		return
	}
	fmt.Fprintf(l.f, "<%d>%s\n", level, msg)
}

func (l *kmsgLog) close() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// uptime is the time since the kernel started.
func uptime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano()).Round(time.Millisecond)
}
