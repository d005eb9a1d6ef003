// Command testinit is the init the stage 1 VM test puts on its root file
// system (and the "systemd" its stage 2 test execs): it prints what it
// sees as pid 1, one "KILN-TEST key=value" line each, and powers off.
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	report("pid", fmt.Sprint(os.Getpid()))
	report("argv0", os.Args[0])
	report("args", strings.Join(os.Args[1:], " "))
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	report("uptime", time.Duration(ts.Nano()).Round(time.Millisecond).String())
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 3 {
				report("mount", f[1]+" "+f[2]+" "+f[3])
			}
		}
	}
	for _, p := range []string{"/run/current-system", "/run/booted-system", "/usr", "/bin", "/etc/static", "/etc/hostname", "/run/wrappers/bin"} {
		if t, err := os.Readlink(p); err == nil {
			report("link", p+" -> "+t)
		}
	}
	for _, p := range []string{"/etc/hostname", "/etc/machine-id", "/etc/passwd", "/etc/group", "/etc/shadow", "/run/wrappers/bin/su", "/tmp", "/usr/bin/su"} {
		if fi, err := os.Stat(p); err == nil {
			st := fi.Sys().(*syscall.Stat_t)
			report("stat", fmt.Sprintf("%s %v %d:%d %d", p, fi.Mode(), st.Uid, st.Gid, fi.Size()))
		}
	}
	for _, p := range []string{"/etc/hostname", "/etc/passwd", "/etc/group"} {
		if b, err := os.ReadFile(p); err == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				report("file", p+": "+l)
			}
		}
	}
	err := os.WriteFile("/kiln/store/write-test", nil, 0o644)
	report("store-write", fmt.Sprint(err))
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func report(key, value string) { fmt.Printf("KILN-TEST %s=%s\n", key, value) }
