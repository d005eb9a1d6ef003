// Command probe reports, as JSON on stdout, what a process sees of the
// root kiln shell made for it, then exits with the status given as its
// first argument. The shell package's tests build it statically and run
// it inside a shell.
package main

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	r := map[string]any{}
	r["uid"], r["gid"] = os.Getuid(), os.Getgid()
	r["usr"], _ = os.Readlink("/usr")
	r["bin"], _ = os.Readlink("/bin")
	r["cwd"], _ = os.Getwd()
	if b, err := os.ReadFile("/usr/share/probe/marker"); err == nil {
		r["marker"] = string(b)
	}
	r["store_ro"] = readOnly("/kiln/store/probe-write")
	r["root_ro"] = readOnly("/probe-write")
	if b, err := os.ReadFile("/etc/passwd"); err == nil {
		r["passwd"] = string(b)
	}
	for k, f := range map[string]string{"hostetc": "/etc/probe.conf", "kilnvar": "/kiln/var/marker"} {
		if b, err := os.ReadFile(f); err == nil {
			r[k] = string(b)
		}
	}
	if fi, err := os.Stat("/etc/ld.so.cache"); err == nil {
		r["ldcache_size"] = fi.Size()
	}
	_, err := os.Stat(os.Getenv("HOME"))
	r["home"] = err == nil
	if f, err := os.OpenFile("/dev/null", os.O_WRONLY, 0); err == nil {
		_, err = f.Write([]byte("x"))
		r["devnull"] = err == nil
		f.Close()
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(k, "Cap") {
				r[k] = strings.TrimSpace(v)
			}
		}
	}
	r["path"], r["marker_env"], r["shell"] = os.Getenv("PATH"), os.Getenv("KILN_SHELL"), os.Getenv("SHELL")
	r["args"] = os.Args[1:]
	json.NewEncoder(os.Stdout).Encode(r)
	code := 0
	if len(os.Args) > 1 {
		code, _ = strconv.Atoi(os.Args[1])
	}
	os.Exit(code)
}

// readOnly reports whether creating name fails with EROFS.
func readOnly(name string) bool {
	f, err := os.Create(name)
	if err == nil {
		f.Close()
		os.Remove(name)
	}
	return errors.Is(err, syscall.EROFS)
}
