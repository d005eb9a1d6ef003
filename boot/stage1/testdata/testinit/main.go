// Command testinit is the init the stage 1 VM test puts on its root file
// system: it prints a marker with what it sees as pid 1 and powers off.
package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func main() {
	root := "?"
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 3 && f[1] == "/" {
				root = f[0] + " " + f[2] + " " + f[3]
			}
		}
	}
	fmt.Printf("KILN-TEST-INIT pid=%d argv0=%s root=%q\n", os.Getpid(), os.Args[0], root)
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
