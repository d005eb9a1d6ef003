package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/internal/testenv"
)

// closedMirror is a mirror no one serves: a start that needs the network
// fails on it.
const closedMirror = "http://127.0.0.1:1/debian"

// runIn runs the CLI in dir with env and stdin.
func runIn(t *testing.T, dir string, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), Env{
		Args: args, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Dir: dir,
	})
	return code, out.String(), errb.String()
}

// userDebCache makes a cache directory whose debs and indices are the
// user's (linked), so that a test downloads each .deb once across runs
// while its locks and store stay its own.
func userDebCache(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	if err := os.MkdirAll(filepath.Join(cache, "kiln"), 0o755); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(os.Getenv("HOME"), ".cache", "kiln")
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		user = filepath.Join(d, "kiln")
	}
	for _, d := range []string{"debs", "indices"} {
		if err := os.MkdirAll(filepath.Join(user, d), 0o755); err == nil {
			os.Symlink(filepath.Join(user, d), filepath.Join(cache, "kiln", d))
		}
	}
	return cache
}

// upstreamVersion is a Debian version without epoch and revision:
// "1.6-2.1+deb12u1" → "1.6", what `jq --version` prints after "jq-".
func upstreamVersion(v string) string {
	if _, rest, ok := strings.Cut(v, ":"); ok {
		v = rest
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		v = v[:i]
	}
	return v
}

// `kiln shell jq -- jq --version` prints Debian's jq version: resolved and
// recorded on the first start, then started again from the record and
// the store alone (the mirror closed), from a project's kiln.lock, with
// the command's exit status, a default shell reading stdin, an unknown
// package refused with suggestions, and as an unprivileged user.
func TestShellJq(t *testing.T) {
	testenv.NeedLiveArchive(t)
	cache := userDebCache(t)
	storeDir := filepath.Join(t.TempDir(), "store")
	env := map[string]string{"XDG_CACHE_HOME": cache, "KILN_MIRROR": os.Getenv("KILN_MIRROR")}
	dir := t.TempDir()

	start := time.Now()
	code, out, errs := runIn(t, dir, env, "", "--store", storeDir, "shell", "jq", "--", "jq", "--version")
	cold := time.Since(start)
	if code != ExitOK {
		t.Fatalf("kiln shell jq: exit %d\n%s%s", code, out, errs)
	}
	record := filepath.Join(cache, "kiln", "shell", "jq.lock")
	lock, err := debian.ReadLock(record)
	if err != nil {
		t.Fatalf("the resolution was not recorded: %v", err)
	}
	jq, ok := lock.Package("jq")
	if !ok {
		t.Fatalf("%s does not lock jq", record)
	}
	want := "jq-" + upstreamVersion(jq.Version)
	if out != want+"\n" {
		t.Errorf("kiln shell jq -- jq --version printed %q, want %q (Debian's jq %s)", out, want, jq.Version)
	}

	// Warm: the record and the store serve; the mirror is closed.
	start = time.Now()
	code, out, errs = runIn(t, dir, env, "", "--store", storeDir, "--mirror", closedMirror, "shell", "jq", "--", "sh", "-c", "readlink -f /usr/bin/jq; exit 7")
	t.Logf("first start (resolve, fetch, unpack, build) %v; second start %v", cold.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	jqPath, _ := lock.StorePath("jq")
	if code != 7 || out != jqPath.String()+"/usr/bin/jq\n" {
		t.Errorf("second start: exit %d, /usr/bin/jq is %q; want 7 and %s/usr/bin/jq\n%s", code, out, jqPath, errs)
	}

	t.Run("read-only store", func(t *testing.T) {
		// As on a kiln machine: the store bound read-only.
		t.Setenv("XDG_CACHE_HOME", cache)
		out, errs, err := onReadOnlyStore(t, storeDir, "", "--store", storeDir, "--mirror", closedMirror, "-v", "shell", "jq", "--", "jq", "--version")
		if err != nil || out != want+"\n" || strings.Contains(errs, "private mount namespace") {
			t.Errorf("warm start on a read-only store: %v, %q\n%s", err, out, errs)
		}
		// What is missing is made in a private mount namespace.
		out, errs, err = onReadOnlyStore(t, storeDir, "", "--store", storeDir, "-v", "shell", "hello", "--", "hello")
		if err != nil || out != "Hello, world!\n" || !strings.Contains(errs, "private mount namespace") {
			t.Errorf("cold start on a read-only store: %v, %q\n%s", err, out, errs)
		}
	})

	// A kiln.lock in the working directory that locks jq serves it.
	data, err := os.ReadFile(record)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, debian.LockFile), data, 0o644)
	}
	if err == nil {
		err = os.Remove(record)
	}
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs = runIn(t, dir, env, "", "--store", storeDir, "--mirror", closedMirror, "-v", "shell", "jq", "--", "jq", "--version")
	if code != ExitOK || out != want+"\n" || !strings.Contains(errs, "lock "+filepath.Join(dir, debian.LockFile)+" (read)") {
		t.Errorf("from the project's lock: exit %d, %q\n%s", code, out, errs)
	}

	// No command: the shell reads its commands from stdin.
	code, out, errs = runIn(t, dir, env, "echo \"$SHELL\" \"$KILN_SHELL\"; exit 4\n", "--store", storeDir, "--mirror", closedMirror, "shell", "jq")
	if f := strings.Fields(out); code != 4 || len(f) != 2 || !strings.HasSuffix(f[0], "sh") || !strings.HasSuffix(f[1], "-shell-jq") {
		t.Errorf("default shell: exit %d, output %q\n%s", code, out, errs)
	}

	code, _, errs = runIn(t, dir, env, "", "--store", storeDir, "shell", "jqq")
	if code != ExitFailure || !strings.Contains(errs, `unknown package "jqq" (did you mean jq`) {
		t.Errorf("unknown package: exit %d, stderr %q", code, errs)
	}

	t.Run("unprivileged", func(t *testing.T) {
		shellAsNobody(t, lock, data, want)
	})
}

// shellAsNobody runs `kiln shell jq -- jq --version` as uid 65534 with a
// cache of its own (the lock recorded, the .debs present) and the mirror
// closed: the user namespace path, with a store the user owns.
func shellAsNobody(t *testing.T, lock *debian.Lock, lockData []byte, want string) {
	testenv.NeedRoot(t, "switching to an unprivileged user")
	testenv.NeedTools(t, "setpriv")
	testenv.NeedUserNamespaces(t)
	const nobody = 65534
	home, err := os.MkdirTemp("", "kiln-shell-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	userCache := filepath.Join(os.Getenv("HOME"), ".cache", "kiln", "debs")
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		userCache = filepath.Join(d, "kiln", "debs")
	}
	debs := filepath.Join(home, ".cache", "kiln", "debs")
	shellDir := filepath.Join(home, ".cache", "kiln", "shell")
	for _, d := range []string{debs, shellDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range lock.Packages {
		name := p.SHA256 + ".deb"
		if err := os.Link(filepath.Join(userCache, name), filepath.Join(debs, name)); err != nil {
			b, err := os.ReadFile(filepath.Join(userCache, name))
			if err == nil {
				err = os.WriteFile(filepath.Join(debs, name), b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(shellDir, "jq.lock"), lockData, 0o644); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(home, "kiln.test")
	b, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(self, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, nobody, nobody)
		}
		return err
	})
	id := strconv.Itoa(nobody)
	cmd := exec.Command("setpriv", "--reuid="+id, "--regid="+id, "--clear-groups", self,
		"--mirror", closedMirror, "shell", "jq", "--", "sh", "-c", `jq --version; id -u; test -w "$HOME"`)
	cmd.Dir = home
	cmd.Env = []string{"KILN_CLI_TEST_MAIN=1", "HOME=" + home, "PATH=/usr/bin:/bin"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || string(out) != want+"\n"+id+"\n" {
		t.Errorf("kiln shell as uid %d: %v, output %q, want %q\n%s", nobody, err, out, want+"\n"+id+"\n", stderr.String())
	}
	// The store was the user's own, in its cache.
	if st, err := os.Stat(filepath.Join(home, ".cache", "kiln", "store")); err != nil || st.Sys().(*syscall.Stat_t).Uid != nobody {
		t.Errorf("no store of uid %d in its cache: %v", nobody, err)
	}
}
