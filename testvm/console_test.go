package testvm

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConsoleText(t *testing.T) {
	c := newConsole(nil)
	// Colours split across writes, as QEMU's pipe may deliver them.
	for _, chunk := range []string{"\x1b[1m\x1b[33mShe", "ll> \x1b", "[0m\x1b[37", "m\r\nnext\x1bcline\r\n"} {
		c.Write([]byte(chunk))
	}
	if got, want := c.Text(), "Shell> \nnextline\n"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
}

func TestConsoleWaitConsumesMatches(t *testing.T) {
	c := newConsole(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Write([]byte("boot 1: ready\n"))
	re := regexp.MustCompile(`ready`)
	if _, err := c.waitFor(ctx, re, nil); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.Write([]byte("boot 2: rea"))
		c.Write([]byte("dy\n"))
	}()
	m, err := c.waitFor(ctx, regexp.MustCompile(`boot \d: ready`), nil)
	if err != nil || m != "boot 2: ready" {
		t.Errorf("second wait = %q, %v; want the text printed after the first match", m, err)
	}
	stop := make(chan struct{})
	close(stop)
	if _, err := c.waitFor(ctx, re, stop); !errors.Is(err, ErrNotRunning) {
		t.Errorf("wait on a stopped machine: %v, want ErrNotRunning", err)
	}
}

// TestKernelPanicEndsWaits: a wait on a machine whose guest panicked
// ends at once with ErrKernelPanic instead of running into its timeout.
func TestKernelPanicEndsWaits(t *testing.T) {
	m := &Machine{cfg: newConfig(nil), console: newConsole(nil)}
	m.console.Write([]byte("an earlier boot: Kernel panic - not syncing: old\n"))
	m.proc = &process{done: make(chan struct{}), start: m.console.textLen(), conn: nopConn{}}
	errc := make(chan error)
	go func() {
		_, err := m.WaitForConsoleTextCtx(context.Background(), "login: ")
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("wait ended before the panic: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	m.console.Write([]byte("[    1.9] Kernel panic - not syncing: VFS: Unable to mount root fs\n"))
	select {
	case err := <-errc:
		if !errors.Is(err, ErrKernelPanic) || !strings.Contains(err.Error(), "VFS: Unable to mount root fs") {
			t.Errorf("err = %v, want ErrKernelPanic naming the panic", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not end on the panic")
	}
}

func TestResetHung(t *testing.T) {
	defer func(g time.Duration) { resetGrace = g }(resetGrace)
	resetGrace = 200 * time.Millisecond
	for _, c := range []struct {
		name  string
		lines []string // written after the check starts, 50 ms apart
		want  bool
	}{
		{"silent after the reset", []string{"[ 63.4] reboot: machine restart\n"}, true},
		{"the next boot prints", []string{"[ 63.4] reboot: machine restart\n", "[    0.000000] Linux version 6.1.0\n"}, false},
		{"no reset", []string{"[ 63.4] systemd-shutdown[1]: Syncing\n"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Machine{console: newConsole(nil), cfg: config{name: "m"}}
			m.console.Write([]byte("kiln login: old boot\n"))
			from := m.console.textLen()
			go func() {
				for _, l := range c.lines {
					time.Sleep(50 * time.Millisecond)
					m.console.Write([]byte(l))
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if got := m.resetHung(ctx, from); got != c.want {
				t.Errorf("resetHung = %v, want %v", got, c.want)
			}
		})
	}
}
