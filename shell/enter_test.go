package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/system"
)

// The test binary doubles as kiln's namespace helper (started as
// HelperName by Command) and, with probeChildEnv set, as an unprivileged
// caller that builds a store and runs the probe in a shell (probeRun).
func TestMain(m *testing.M) {
	switch {
	case filepath.Base(os.Args[0]) == HelperName:
		spec, err := ParseSpec(os.Args[len(os.Args)-1])
		if err == nil {
			err = Enter(spec)
		}
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(125)
	case os.Getenv(probeChildEnv) != "":
		var a probeArgs
		if err := json.Unmarshal([]byte(os.Getenv(probeChildEnv)), &a); err != nil {
			fmt.Fprintln(os.Stderr, "probe child:", err)
			os.Exit(125)
		}
		out, code, err := probeRun(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "probe child:", err)
			os.Exit(125)
		}
		os.Stdout.Write(out)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

const probeChildEnv = "KILN_SHELL_TEST_PROBE"

type probeArgs struct {
	Dir   string   // a directory of the caller's: the store goes under it
	Probe string   // the static probe binary
	Root  bool     // Spec.Root
	Args  []string // the probe's arguments (the first is its exit status)
	Host  string   // Spec.Host
	Cwd   string   // the working directory and HOME ("": Dir)
}

// probeRun makes a store under a.Dir with one package holding the probe
// and a marker file, builds its environment and runs the probe in a
// shell in a.Dir. It returns the probe's output and exit status.
func probeRun(a probeArgs) ([]byte, int, error) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(a.Dir, "store"))
	if err != nil {
		return nil, 0, err
	}
	pkg, err := store.NewKey("test").Add("probe", a.Probe).Path("probe")
	if err != nil {
		return nil, 0, err
	}
	err = st.Build(ctx, pkg, nil, func(tmp string) error {
		if err := os.MkdirAll(filepath.Join(tmp, "usr", "share", "probe"), 0o755); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(tmp, "usr", "bin"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, "usr", "share", "probe", "marker"), []byte("kiln"), 0o644); err != nil {
			return err
		}
		b, err := os.ReadFile(a.Probe)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, "usr", "bin", "probe"), b, 0o755)
	})
	if err != nil {
		return nil, 0, err
	}
	usr, _, err := system.BuildEnv(ctx, st, system.NewPackageSet(st.Dir, map[string]store.Path{"probe": pkg}), "shell-probe")
	if err != nil {
		return nil, 0, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	var out bytes.Buffer
	cwd := a.Dir
	if a.Cwd != "" {
		cwd = a.Cwd
	}
	environ := append(os.Environ(), "HOME="+cwd, "PATH=/usr/local/bin:/usr/bin:/bin")
	cmd, err := Command(exe, Spec{Store: st.Dir, Usr: usr.String(), Dir: cwd, Argv: append([]string{"probe"}, a.Args...), Root: a.Root, Host: a.Host},
		environ, Stdio{Stdout: &out, Stderr: os.Stderr})
	if err != nil {
		return nil, 0, err
	}
	code, err := Run(cmd)
	return out.Bytes(), code, err
}

// probeReport is what the probe saw.
type probeReport struct {
	UID, GID       int
	Usr, Bin, Cwd  string
	Marker         string
	StoreRO        bool `json:"store_ro"`
	RootRO         bool `json:"root_ro"`
	Passwd         string
	LdcacheSize    *int64 `json:"ldcache_size"`
	Home, Devnull  bool
	CapEff, CapAmb string
	CapInh, CapPrm string
	Path, Shell    string
	MarkerEnv      string `json:"marker_env"`
	HostEtc        string `json:"hostetc"`
	KilnVar        string `json:"kilnvar"`
	Args           []string
}

func parseReport(t *testing.T, out []byte) probeReport {
	t.Helper()
	var r probeReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("probe output %q: %v", out, err)
	}
	return r
}

// buildProbe compiles the static probe into a directory every user can
// read.
func buildProbe(t *testing.T) string {
	t.Helper()
	testenv.NeedTools(t, "go")
	bin := filepath.Join(worldDir(t), "probe")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	return bin
}

// worldDir is a temporary directory (and parent) every user may enter.
func worldDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// checkReport checks what every shell must look like from inside.
func checkReport(t *testing.T, r probeReport, dir string, uid int) {
	t.Helper()
	if r.UID != uid || r.GID != uid && uid == 0 {
		t.Errorf("uid %d gid %d in the shell, want %d", r.UID, r.GID, uid)
	}
	if !strings.HasPrefix(r.Usr, store.LogicalDir+"/") || !strings.HasSuffix(r.Usr, "-shell-probe") || r.Bin != "usr/bin" {
		t.Errorf("/usr -> %q, /bin -> %q; want the environment and usr/bin", r.Usr, r.Bin)
	}
	if r.Marker != "kiln" {
		t.Errorf("/usr/share/probe/marker = %q: the environment does not resolve through /kiln/store", r.Marker)
	}
	if !r.StoreRO || !r.RootRO {
		t.Errorf("read-only: /kiln/store %v, / %v; want both", r.StoreRO, r.RootRO)
	}
	host, _ := os.ReadFile("/etc/passwd")
	if r.Passwd != string(host) {
		t.Error("/etc/passwd in the shell is not the host's")
	}
	if _, err := os.Stat("/etc/ld.so.cache"); err == nil && (r.LdcacheSize == nil || *r.LdcacheSize != 0) {
		t.Errorf("/etc/ld.so.cache in the shell: size %v, want the host's masked by an empty file", r.LdcacheSize)
	}
	if !r.Home || !r.Devnull || r.Cwd != dir {
		t.Errorf("home visible %v, /dev/null writable %v, cwd %q (want %q)", r.Home, r.Devnull, r.Cwd, dir)
	}
	if r.Path != "/usr/bin:/usr/sbin:/usr/local/bin:/bin" || r.MarkerEnv != r.Usr {
		t.Errorf("PATH %q, %s %q", r.Path, EnvMarker, r.MarkerEnv)
	}
}

// mountPoints are the mount points of this process's mount namespace.
func mountPoints(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			out[f[4]] = true
		}
	}
	return out
}

// As the user running the tests (as root: a mount namespace only; as
// anyone else: a user namespace too), the probe sees the shell's root,
// its exit status is the shell's, and the caller's mounts do not change.
func TestShellRoot(t *testing.T) {
	dir := worldDir(t)
	before := mountPoints(t)
	out, code, err := probeRun(probeArgs{Dir: dir, Probe: buildProbe(t), Args: []string{"3", "a b"}})
	if err != nil {
		t.Fatal(err)
	}
	r := parseReport(t, out)
	checkReport(t, r, dir, os.Getuid())
	if code != 3 || len(r.Args) != 2 || r.Args[1] != "a b" {
		t.Errorf("exit status %d, args %q; want 3 and the arguments as given", code, r.Args)
	}
	// Other processes may mount meanwhile; the shell's mounts must not
	// show here.
	for m := range mountPoints(t) {
		if !before[m] && (m == "/usr" || strings.HasPrefix(m, "/usr/") || strings.HasPrefix(m, dir)) {
			t.Errorf("the shell's mount %s leaked into the caller's namespace", m)
		}
	}
}

// An ordinary user gets a shell through a user namespace: as itself with
// no capability left, or as uid 0 of the namespace with --root.
func TestShellUnprivileged(t *testing.T) {
	testenv.NeedRoot(t, "switching to an unprivileged user")
	testenv.NeedTools(t, "setpriv")
	testenv.NeedUserNamespaces(t)
	probe := buildProbe(t)
	// The test binary, where that user can run it.
	self := filepath.Join(worldDir(t), "shell.test")
	b, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(self, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	for _, root := range []bool{false, true} {
		t.Run(fmt.Sprintf("root=%v", root), func(t *testing.T) {
			dir := worldDir(t)
			if err := os.Chown(dir, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(probeArgs{Dir: dir, Probe: probe, Root: root, Args: []string{"0"}})
			cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(nobody), "--regid="+strconv.Itoa(nobody), "--clear-groups", self)
			cmd.Env = []string{probeChildEnv + "=" + string(a), "PATH=/usr/bin:/bin"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("shell as uid %d: %v\n%s", nobody, err, stderr.String())
			}
			r := parseReport(t, out)
			if root {
				checkReport(t, r, dir, 0)
				if r.CapEff == "0000000000000000" {
					t.Error("--root: no capabilities in the user namespace")
				}
				return
			}
			checkReport(t, r, dir, nobody)
			for name, v := range map[string]string{"CapEff": r.CapEff, "CapPrm": r.CapPrm, "CapInh": r.CapInh, "CapAmb": r.CapAmb} {
				if v != "0000000000000000" {
					t.Errorf("%s = %s in the shell, want no capabilities", name, v)
				}
			}
		})
	}
}

// On a kiln machine an ordinary user's store is not the machine's, and
// the machine's /etc links into the machine's store: the shell's
// /kiln/store unites both, and the rest of the host's /kiln shows. The
// host here is a directory laid out as such a machine.
func TestShellUnitesKilnMachineStores(t *testing.T) {
	dir := worldDir(t)
	host := filepath.Join(dir, "host")
	hostPath, err := store.NewKey("test").Path("machine-etc")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"usr/":            "",
		"home/w/":         "",
		"etc/probe.conf":  "->" + hostPath.String() + "/probe.conf",
		"kiln/var/marker": "var",
		"kiln/store/" + hostPath.Base() + "/probe.conf": "machine",
	} {
		p := filepath.Join(host, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(content[2:], p)
		default:
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	out, code, err := probeRun(probeArgs{Dir: dir, Probe: buildProbe(t), Host: host, Cwd: "/home/w", Args: []string{"0"}})
	if err != nil || code != 0 {
		t.Fatalf("probe: exit %d, %v", code, err)
	}
	r := parseReport(t, out)
	if r.Marker != "kiln" || r.HostEtc != "machine" || r.KilnVar != "var" || r.Cwd != "/home/w" || !r.StoreRO {
		t.Errorf("user store marker %q, machine store through /etc %q, /kiln/var %q, cwd %q, store read-only %v; want kiln, machine, var, /home/w, true",
			r.Marker, r.HostEtc, r.KilnVar, r.Cwd, r.StoreRO)
	}
}
