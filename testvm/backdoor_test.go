package testvm

import (
	"context"
	"errors"
	"fmt"
	"github.com/kiln-os/kiln/internal/testenv"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// guestCommands are the guest side as test images run it, with /dev/hvc0
// standing for the console device: the unit of modules' testing.backdoor
// (an interactive bash on the tty), and the drop-in the system builder
// adds because hvc0 resets its termios on last close (bash reads the
// console as a script). The host side must work with both.
var guestCommands = map[string]string{
	"interactive": `stty -F /dev/hvc0 raw -echo; echo kiln-backdoor-ready >/dev/hvc0; exec /bin/bash --noprofile --norc </dev/hvc0 >/dev/hvc0 2>&1`,
	"script":      `exec </dev/hvc0 >/dev/hvc0 2>&1; stty raw -echo; echo kiln-backdoor-ready; exec /bin/bash --noprofile --norc /dev/hvc0`,
}

// forEachGuest runs f as a subtest per guest command.
func forEachGuest(t *testing.T, f func(t *testing.T, g *fakeGuest)) {
	for _, name := range []string{"interactive", "script"} {
		t.Run(name, func(t *testing.T) { f(t, startFakeGuest(t, guestCommands[name])) })
	}
}

// fakeGuest stands in for a VM: a pseudo-terminal plays /dev/hvc0, the
// backdoor command runs on it in a real bash, and a unix socket is bridged
// to the terminal's master side the way QEMU's chardev socket is bridged
// to the virtio console.
type fakeGuest struct {
	t      testing.TB
	tty    string // the "hvc0" path
	master *os.File
	slave  *os.File // held open, as the kernel keeps hvc0
	socket string
	bash   *exec.Cmd
	guest  string // the guest's backdoor command
}

func openPTY(t testing.TB) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testenv.SkipOrFail(t, "no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

func startFakeGuest(t *testing.T, guest string) *fakeGuest { return startFakeGuestB(t, guest) }

func startFakeGuestB(t testing.TB, guest string) *fakeGuest {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		testenv.SkipOrFail(t, "%v", "no bash")
	}
	g := &fakeGuest{t: t, guest: guest}
	g.master, g.tty = openPTY(t)
	var err error
	if g.slave, err = os.OpenFile(g.tty, os.O_RDWR|unix.O_NOCTTY, 0); err != nil {
		t.Fatal(err)
	}
	g.socket = filepath.Join(t.TempDir(), "backdoor.sock")
	ln, err := net.Listen("unix", g.socket)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		go io.Copy(g.master, c)
		io.Copy(c, g.master)
		c.Close()
	}()
	t.Cleanup(func() {
		g.stopBash()
		g.master.Close()
		g.slave.Close()
	})
	g.startBash()
	return g
}

// startBash boots the guest's backdoor service.
func (g *fakeGuest) startBash() {
	g.bash = exec.Command("bash", "--noprofile", "--norc", "-c", strings.ReplaceAll(g.guest, "/dev/hvc0", g.tty))
	g.bash.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=dumb", "HOME=/root"}
	g.bash.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := g.bash.Start(); err != nil {
		g.t.Fatal(err)
	}
}

func (g *fakeGuest) stopBash() {
	if g.bash != nil && g.bash.Process != nil {
		g.bash.Process.Kill()
		g.bash.Wait()
	}
}

func (g *fakeGuest) connect() *shell {
	g.t.Helper()
	c, err := net.Dial("unix", g.socket)
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { c.Close() })
	return newShell(c)
}

func TestBackdoorCommands(t *testing.T) { forEachGuest(t, testBackdoorCommands) }

func testBackdoorCommands(t *testing.T, g *fakeGuest) {
	sh := g.connect()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var seq strings.Builder
	for i := 1; i <= 100000; i++ {
		fmt.Fprintf(&seq, "%d\n", i)
	}
	tests := []struct {
		name   string
		cmd    string
		want   string
		status int
	}{
		{"simple", "echo hello", "hello\n", 0},
		{"quotes", `echo "it's \"quoted\"" '$HOME' \$HOME`, "it's \"quoted\" $HOME $HOME\n", 0},
		{"multi-line", "for i in 1 2 3; do\n  echo line $i\ndone\necho 'a\nb'", "line 1\nline 2\nline 3\na\nb\n", 0},
		{"no trailing newline", "printf abc", "abc", 0},
		{"stderr merged", "echo out; echo err >&2", "out\nerr\n", 0},
		{"non-zero exit", "echo failing; exit 3", "failing\n", 3},
		{"false", "false", "", 1},
		{"reads stdin", "cat; echo read-nothing", "read-nothing\n", 0},
		{"after stdin reader", "echo still-framed", "still-framed\n", 0},
		{"marker look-alike", "echo kiln-backdoor-done-0000 7", "kiln-backdoor-done-0000 7\n", 0},
		{"ready look-alike", "echo kiln-backdoor-ready", "kiln-backdoor-ready\n", 0},
		{"unicode and tabs", "printf 'h\\xc3\\xa9llo\\tw\\n'", "héllo\tw\n", 0},
		{"large output", "seq 1 100000", seq.String(), 0},
		{"environment", "echo $TERM $HOME", "dumb /root\n", 0},
		{"no shell state leaks", "cd /tmp; x=1", "", 0},
		{"fresh shell each time", "echo \"[$x]\"", "[]\n", 0},
		{"large command", "cat <<'EOF'\n" + seq.String() + "EOF", seq.String(), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, status, err := sh.run(ctx, tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if out != tc.want || status != tc.status {
				t.Errorf("run(%.100q) = %.200q, %d; want %.200q, %d", tc.cmd, out, status, tc.want, tc.status)
			}
		})
	}
}

func TestBackdoorAbandonedCommand(t *testing.T) { forEachGuest(t, testBackdoorAbandonedCommand) }

func testBackdoorAbandonedCommand(t *testing.T, g *fakeGuest) {
	sh := g.connect()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	_, _, err := sh.run(short, "sleep 1; echo stale")
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow command: err = %v, want a deadline error", err)
	}
	out, status, err := sh.run(ctx, "echo fresh")
	if err != nil || out != "fresh\n" || status != 0 {
		t.Errorf("next command = %q, %d, %v; want only its own output", out, status, err)
	}
}

// TestBackdoorRestart plays a reboot: the guest's shell dies and a new
// one starts on the same console while the host connection stays, as it
// does with QEMU's chardev across a guest reboot.
func TestBackdoorRestart(t *testing.T) { forEachGuest(t, testBackdoorRestart) }

func testBackdoorRestart(t *testing.T, g *fakeGuest) {
	sh := g.connect()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, _, err := sh.run(ctx, "echo $$"); err != nil || out == "" {
		t.Fatalf("first shell: %q, %v", out, err)
	}
	if err := sh.restart(ctx, "exit"); err != nil {
		t.Fatal(err)
	}
	g.bash.Wait()
	if sh.isReady() {
		t.Fatal("ready right after a restart")
	}
	done := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		g.startBash()
		close(done)
	}()
	out, status, err := sh.run(ctx, "echo second boot")
	<-done
	if err != nil || out != "second boot\n" || status != 0 {
		t.Errorf("after restart: %q, %d, %v", out, status, err)
	}
}

func TestBackdoorClosed(t *testing.T) {
	a, b := net.Pipe()
	sh := newShell(a)
	go func() {
		io.WriteString(b, BackdoorReady+"\n")
		buf := make([]byte, 4096)
		b.Read(buf) // the command, then the guest goes away
		b.Close()
	}()
	_, _, err := sh.run(context.Background(), "echo never")
	if !errors.Is(err, ErrBackdoorClosed) {
		t.Errorf("err = %v, want ErrBackdoorClosed", err)
	}
}

func TestFrameIsOneLine(t *testing.T) {
	line, marker := frame("echo 'a\nb'\n\"$(x)\"")
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Errorf("frame spans lines: %q", line)
	}
	_, marker2 := frame("x")
	if string(marker) == string(marker2) || !strings.HasPrefix(string(marker), markerPrefix) {
		t.Errorf("markers %q, %q: want unique, prefixed", marker, marker2)
	}
}

// BenchmarkBackdoorRoundTrip measures one command's round trip through
// the framing, a pseudo-terminal and a real bash (no VM).
func BenchmarkBackdoorRoundTrip(b *testing.B) {
	for _, name := range []string{"interactive", "script"} {
		b.Run(name, func(b *testing.B) {
			g := startFakeGuestB(b, guestCommands[name])
			sh := g.connect()
			ctx := context.Background()
			if _, _, err := sh.run(ctx, "true"); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if out, _, err := sh.run(ctx, "echo hi"); err != nil || out != "hi\n" {
					b.Fatalf("%q, %v", out, err)
				}
			}
		})
	}
}
