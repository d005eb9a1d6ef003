package activation

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/testenv"
)

// TestConnectSystemd runs ConnectSystemd as it runs on a machine without a
// D-Bus daemon: the test binary runs again in a mount namespace where
// /run is empty but for /run/systemd/private, bound to a real systemd
// manager's private socket, and lists that manager's units.
func TestConnectSystemd(t *testing.T) {
	if os.Getenv("KILN_CONNECT_SYSTEMD_CHILD") != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sd, err := ConnectSystemd(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer sd.Close()
		units, err := sd.ListUnits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !units["init.scope"].running() {
			t.Errorf("the manager's init.scope is %+v, want running", units["init.scope"])
		}
		return
	}
	private, _ := startUserManager(t, t.TempDir())
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs tmpfs /run && mkdir /run/systemd && touch /run/systemd/private &&
		 mount --bind "$1" /run/systemd/private && exec "$2" -test.run='^TestConnectSystemd$' -test.v`,
		"sh", private, os.Args[0])
	cmd.Env = append(os.Environ(), "KILN_CONNECT_SYSTEMD_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestConnectSystemd") {
		t.Fatalf("ConnectSystemd in a namespace: %v\n%s", err, out)
	}
}

// userManager starts a real systemd user manager whose units come first
// from unitDir, and returns a Systemd speaking D-Bus to it over its
// private socket, as ConnectSystemd does to the system's manager when
// there is no D-Bus daemon. systemd refuses to run a user manager on a
// machine not booted with it, so it runs in a mount namespace where
// /run/systemd/system exists.
func userManager(t testing.TB, unitDir string) Systemd {
	t.Helper()
	private, log := startUserManager(t, unitDir)
	c, err := sddbus.NewConnection(func() (*godbus.Conn, error) {
		conn, err := godbus.Dial("unix:path=" + private)
		if err != nil {
			return nil, err
		}
		if err := conn.Auth([]godbus.Auth{godbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	})
	if err != nil {
		t.Fatalf("connect to systemd --user: %v\n%s", err, log.String())
	}
	sd := &dbusSystemd{c: c}
	t.Cleanup(sd.Close)
	return sd
}

// startUserManager starts a real systemd user manager whose units come
// first from unitDir and returns its private socket and its log.
func startUserManager(t testing.TB, unitDir string) (string, *strings.Builder) {
	t.Helper()
	testenv.NeedRoot(t, "a mount namespace")
	testenv.NeedTools(t, "unshare", "/lib/systemd/systemd")
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	manager := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		"mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && exec /lib/systemd/systemd --user")
	manager.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+run, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(run, "no-bus"),
		// Searched first; the trailing colon keeps the default user
		// units (default.target).
		"SYSTEMD_UNIT_PATH="+unitDir+":")
	log := &strings.Builder{}
	manager.Stdout, manager.Stderr = log, log
	start(t, manager)
	private := filepath.Join(run, "systemd", "private")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(private); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd --user did not come up:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return private, log
}

// start runs cmd and stops it (SIGTERM, then waits) when the test ends.
func start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
}

func TestDBusSystemdJobs(t *testing.T) {
	units := t.TempDir()
	writeFiles(t, units, map[string]string{
		"/kt-ok.service":   "[Service]\nExecStart=/bin/sleep 600\nExecReload=/bin/true\n",
		"/kt-fail.service": "[Service]\nType=oneshot\nExecStart=/bin/false\n",
	})
	sd := userManager(t, units)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sd.DaemonReload(ctx); err != nil {
		t.Fatal(err)
	}
	state := func(name string) UnitState {
		t.Helper()
		all, err := sd.ListUnits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return all[name]
	}
	if err := sd.Start(ctx, "kt-ok.service"); err != nil {
		t.Fatal(err)
	}
	s1 := state("kt-ok.service")
	if s1.Active != "active" || s1.Sub != "running" || s1.MainPID == 0 {
		t.Fatalf("after start: %+v", s1)
	}
	if err := sd.Reload(ctx, "kt-ok.service"); err != nil {
		t.Fatal(err)
	}
	if s := state("kt-ok.service"); s.MainPID != s1.MainPID {
		t.Errorf("reload changed the main PID %d -> %d", s1.MainPID, s.MainPID)
	}
	if err := sd.Restart(ctx, "kt-ok.service"); err != nil {
		t.Fatal(err)
	}
	if s := state("kt-ok.service"); !s.running() || s.MainPID == s1.MainPID || s.MainPID == 0 {
		t.Errorf("restart: %+v (was PID %d)", s, s1.MainPID)
	}
	if err := sd.Stop(ctx, "kt-ok.service"); err != nil {
		t.Fatal(err)
	}
	if s := state("kt-ok.service"); s.running() {
		t.Errorf("after stop: %+v", s)
	}
	if err := sd.Stop(ctx, "kt-never-was.service"); err != nil {
		t.Errorf("stopping a unit systemd does not know: %v, want nil", err)
	}
	err := sd.Start(ctx, "kt-fail.service")
	if err == nil || !strings.Contains(err.Error(), "start kt-fail.service: job failed") {
		t.Errorf("start of a failing unit: %v", err)
	}
	failed, err := sd.Failed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(failed, "kt-fail.service") {
		t.Errorf("failed units %v lack kt-fail.service", failed)
	}
	if err := sd.Reload(ctx, "kt-fail.service"); err == nil {
		t.Errorf("reloading a unit without ExecReload= succeeded")
	}
}

// etcView is a Systemd whose daemon-reload first points the manager's
// unit directory at the current generation's, as /etc/systemd/system
// (through /etc/static) does on a real machine.
type etcView struct {
	Systemd
	root, link string
}

func (e etcView) DaemonReload(ctx context.Context) error {
	cur, err := os.Readlink(under(e.root, "/run/current-system"))
	if err != nil {
		return err
	}
	dir, err := resolveIn(e.root, cur+"/etc/systemd/system")
	if err != nil {
		return err
	}
	if err := fsutil.Symlink(dir, e.link); err != nil {
		return err
	}
	return e.Systemd.DaemonReload(ctx)
}

// TestSwitchRealSystemd switches between two generations with a real
// systemd running their units.
func TestSwitchRealSystemd(t *testing.T) {
	root := t.TempDir()
	link := filepath.Join(t.TempDir(), "units")
	sock := filepath.Join(t.TempDir(), "kt.sock")
	unitsOf := func(v string) map[string]string {
		u := map[string]string{
			"kt-keep.service":    "[Service]\nExecStart=/bin/sleep 601\n",
			"kt-changed.service": "[Service]\nExecStart=/bin/sleep 60" + v + "\n",
			"kt-sock.socket":     "[Socket]\nListenStream=" + sock + "\n",
			"kt-sock.service":    "[Service]\nExecStart=/bin/sleep 61" + v + "\n",
			"kt-reload.service":  "[Unit]\nX-ReloadIfChanged=true\n[Service]\nExecStart=/bin/sleep 620\nExecReload=/bin/true\nEnvironment=V=" + v + "\n",
		}
		if v == "2" {
			u["kt-new.service"] = "[Service]\nExecStart=/bin/sleep 630\n"
			u["default.target.wants/kt-new.service"] = "->../kt-new.service"
		} else {
			u["kt-removed.service"] = "[Service]\nExecStart=/bin/sleep 640\n"
		}
		return u
	}
	gen := func(name, v string) string {
		tree := map[string]string{}
		for p, text := range unitsOf(v) {
			tree["systemd/system/"+p] = text
		}
		return makeToplevel(t, root, name, baseSpec(), tree, nil)
	}
	gen1, gen2 := gen("gen1", "1"), gen("gen2", "2")
	if err := Activate(root, gen1, Boot); err != nil {
		t.Fatal(err)
	}
	sd := etcView{Systemd: userManager(t, link), root: root, link: link}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := sd.DaemonReload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"kt-keep.service", "kt-changed.service", "kt-sock.socket", "kt-sock.service", "kt-reload.service", "kt-removed.service"} {
		if err := sd.Start(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	before, err := sd.ListUnits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Switch(ctx, root, gen2, sd, SwitchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("switch not OK:\n%s", rep)
	}
	after, err := sd.ListUnits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		unit       string
		running    bool
		pidChanged bool
	}{
		{"kt-keep.service", true, false},
		{"kt-changed.service", true, true},
		{"kt-reload.service", true, false},
		{"kt-new.service", true, true},
		{"kt-removed.service", false, true},
		{"kt-sock.socket", true, false},
		{"kt-sock.service", false, true},
	} {
		a, b := after[c.unit], before[c.unit]
		if a.running() != c.running || (a.MainPID != b.MainPID) != c.pidChanged {
			t.Errorf("%s: %+v before, %+v after; want running %v, PID changed %v", c.unit, b, a, c.running, c.pidChanged)
		}
	}
	// The socket starts the new service on the next connection.
	conn, err := dialUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		all, err := sd.ListUnits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if all["kt-sock.service"].running() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kt-sock.service not started through its socket: %+v", all["kt-sock.service"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rep.Resumed != "" || rep.From != gen1 {
		t.Errorf("report from %s resumed %q", rep.From, rep.Resumed)
	}
	if errs := rep.Errors; len(errs) > 0 {
		t.Errorf("errors: %v", errors.New(strings.Join(errs, "; ")))
	}
}

func dialUnix(path string) (net.Conn, error) { return net.DialTimeout("unix", path, 5*time.Second) }
