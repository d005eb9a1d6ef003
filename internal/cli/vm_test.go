package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
)

func emptyDisk(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 16<<20); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVMDryRun(t *testing.T) {
	disk := emptyDisk(t)
	tests := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"image", []string{disk}, []string{"qemu-img create -q -f qcow2 -F raw -b " + disk, "-serial mon:stdio", "hostfwd=tcp:127.0.0.1:2222-:22", "-m 1024"}, []string{"backdoor"}},
		{"writable", []string{"--writable", "--ssh-port", "0", "--memory", "512", disk}, []string{"if=virtio,format=raw,file=" + disk, "-m 512"}, []string{"hostfwd", "qemu-img"}},
		{"config", []string{"-c", "web.hcl", "--ssh-port", "2200"}, []string{"IMAGE-OF-web.hcl", "hostfwd=tcp:127.0.0.1:2200-:22"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, nil, append([]string{"vm", "--dry-run"}, tc.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("output has %q:\n%s", n, out)
				}
			}
		})
	}
}

func TestVMArguments(t *testing.T) {
	disk := emptyDisk(t)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"both", []string{"vm", "-c", "x.hcl", disk}, ExitUsage, "not both"},
		{"two images", []string{"vm", disk, disk}, ExitUsage, "at most one"},
		{"bad port", []string{"vm", "--ssh-port", "70000", disk}, ExitUsage, "--ssh-port"},
		{"missing image", []string{"vm", filepath.Join(t.TempDir(), "none.img")}, ExitFailure, "disk image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}

// watchWriter signals when its output contains a string.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// TestVMBootsInteractively runs kiln vm on an empty disk: the firmware's
// messages reach stdout, and Ctrl-A X typed on stdin quits QEMU.
func TestVMBootsInteractively(t *testing.T) {
	testenv.NeedVM(t)
	disk := emptyDisk(t)
	stdin, typeKeys := io.Pipe()
	out := &watchWriter{want: "BdsDxe: failed to load Boot0001", seen: make(chan struct{})}
	var stderr bytes.Buffer
	done := make(chan int)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	go func() {
		done <- Main(ctx, Env{Args: []string{"vm", "--ssh-port", "0", "--memory", "256", disk},
			Stdin: stdin, Stdout: out, Stderr: &stderr, Getenv: func(string) string { return "" }, Dir: t.TempDir()})
	}()
	select {
	case <-out.seen:
	case code := <-done:
		t.Fatalf("kiln vm exited %d before the firmware printed: %s\n%s", code, stderr.String(), out.buf.String())
	case <-ctx.Done():
		t.Fatal("no firmware output")
	}
	typeKeys.Write([]byte{0x01, 'x'})
	if code := <-done; code != ExitOK {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Ctrl-A X quits") {
		t.Errorf("stderr lacks the hint: %q", stderr.String())
	}
	typeKeys.Close()
}
