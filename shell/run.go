package shell

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/system"
)

// HelperName is argv[0] of kiln started as the namespace helper.
const HelperName = "kiln-shell-enter"

// EnvMarker is set, in the command's environment, to the environment's
// store path (as Nix sets IN_NIX_SHELL), so that prompts and scripts can
// tell they run in a kiln shell.
const EnvMarker = "KILN_SHELL"

// Spec is what the helper makes and runs. It travels as JSON in the
// helper's argv[1].
type Spec struct {
	Store string   `json:"store"`          // physical store directory, bound on /kiln/store
	Usr   string   `json:"usr"`            // the environment's store path (logical): /usr
	Dir   string   `json:"dir"`            // working directory
	Argv  []string `json:"argv,omitempty"` // the command; empty: $SHELL if the environment has it, else bash
	Root  bool     `json:"root,omitempty"` // uid and gid 0 in the namespace, with its capabilities
	// Host is the host's root directory ("": /), whose entries the
	// shell's root shows; tests give another.
	Host string `json:"host,omitempty"`
}

// ParseSpec reads the helper's argument.
func ParseSpec(arg string) (Spec, error) {
	var s Spec
	dec := json.NewDecoder(strings.NewReader(arg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("helper spec: %w", err)
	}
	if _, err := store.ParsePath(s.Usr); err != nil || !path.IsAbs(s.Store) || !path.IsAbs(s.Dir) || s.Host != "" && !path.IsAbs(s.Host) {
		return s, fmt.Errorf("helper spec: bad store %q, usr %q, dir %q or host %q", s.Store, s.Usr, s.Dir, s.Host)
	}
	return s, nil
}

// Stdio is the command's standard streams.
type Stdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Command returns the command that runs spec: the kiln binary exe
// started as the helper, in a new mount namespace and, unless kiln runs
// as root, a new user namespace. environ is the command's environment
// before Environ adjusts it.
func Command(exe string, spec Spec, environ []string, stdio Stdio) (*exec.Cmd, error) {
	if hidden(spec.Dir) {
		return nil, fmt.Errorf("working directory %s is inside /usr, which kiln shell replaces: change to another directory", spec.Dir)
	}
	arg, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:   exe,
		Args:   []string{HelperName, string(arg)},
		Env:    Environ(environ, spec.Usr),
		Stdin:  stdio.Stdin,
		Stdout: stdio.Stdout,
		Stderr: stdio.Stderr,
	}
	attr := &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	if uid, gid := os.Geteuid(), os.Getegid(); uid != 0 {
		in, ing := uid, gid
		if spec.Root {
			in, ing = 0, 0
		}
		attr.Cloneflags |= unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: in, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: ing, HostID: gid, Size: 1}}
		if !spec.Root {
			// The helper keeps uid uid, so exec would drop every
			// capability: keep the one it mounts with; it drops it itself
			// before it executes the command.
			attr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN}
		}
	}
	cmd.SysProcAttr = attr
	return cmd, nil
}

// hidden reports whether dir is under a directory the shell replaces.
func hidden(dir string) bool {
	for _, top := range append(system.MergedUsrDirs(), "usr") {
		if dir == "/"+top || strings.HasPrefix(dir, "/"+top+"/") {
			return true
		}
	}
	return false
}

// Environ returns environ for a command in the environment usr: the
// environment's bin directories first in PATH, and EnvMarker set.
// As exec does, the last of duplicate entries counts.
func Environ(environ []string, usr string) []string {
	out := make([]string, 0, len(environ)+2)
	path := ""
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH":
			path = v
		case EnvMarker:
		default:
			out = append(out, kv)
		}
	}
	dirs := []string{"/usr/bin", "/usr/sbin"}
	for _, d := range strings.Split(path, ":") {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return append(out, "PATH="+strings.Join(dirs, ":"), EnvMarker+"="+usr)
}

// ErrNoUserNamespace reports a host that does not let this user make a
// user namespace.
var ErrNoUserNamespace = errors.New("this host does not allow unprivileged user namespaces")

// Run starts cmd (from Command) and waits for it. It returns the
// command's exit status, 128+N when signal N killed it (as shells
// report). SIGTERM and SIGHUP sent to kiln are passed on; SIGINT and
// SIGQUIT from the terminal reach the command directly.
func Run(cmd *exec.Cmd) (int, error) {
	if err := cmd.Start(); err != nil {
		if cmd.SysProcAttr != nil && cmd.SysProcAttr.Cloneflags&unix.CLONE_NEWUSER != 0 &&
			(errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EACCES)) {
			return 0, fmt.Errorf("start the shell: %w (%v; see /proc/sys/kernel/unprivileged_userns_clone and /proc/sys/user/max_user_namespaces, or run as root)", ErrNoUserNamespace, err)
		}
		return 0, fmt.Errorf("start the shell: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	signal.Stop(sigs)
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("run the shell: %w", err)
	}
	return 0, nil
}
