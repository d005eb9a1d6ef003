// Package s3test runs a real S3 server for tests: SeaweedFS's
// `weed server -filer -s3` (master, volume server, filer and S3 gateway in
// one process) with its data in a temp directory, on free ports of
// 127.0.0.1, with one access key. Only tests import it.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
)

// Server is a running S3 server.
type Server struct {
	Endpoint  string // host:port of the S3 API (plain HTTP)
	AccessKey string
	SecretKey string
	StartTime time.Duration // from exec to a first object stored
}

// The credentials of the one identity the server knows.
const (
	AccessKey = "kiln-test-access"
	SecretKey = "kiln-test-secret-0123456789abcdef"
)

// Getenv returns the variables a client reads its credentials from.
func (s *Server) Getenv(k string) string {
	switch k {
	case "AWS_ACCESS_KEY_ID":
		return s.AccessKey
	case "AWS_SECRET_ACCESS_KEY":
		return s.SecretKey
	}
	return ""
}

// URL returns an s3:// cache URL of bucket/prefix on this server.
func (s *Server) URL(bucket, prefix string) string {
	u := "s3://" + bucket
	if prefix != "" {
		u += "/" + prefix
	}
	return u + "?endpoint=" + s.Endpoint + "&scheme=http&region=us-east-1"
}

// Start starts a server for t and stops it when t ends. A missing weed
// skips the test (fails where KILN_VMTEST is set).
func Start(t testing.TB) *Server {
	t.Helper()
	weed := testenv.Weed(t)
	s, stop, err := Launch(weed, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if log := stop(); t.Failed() {
			t.Logf("weed server output:\n%s", log)
		}
	})
	return s
}

// Launch starts weed with its data in dir (which must exist) and returns
// the server and a function that stops it and returns its output. For a
// server shared by a package's tests (TestMain stops it).
func Launch(weed, dir string) (*Server, func() string, error) {
	config := filepath.Join(dir, "s3.json")
	identities := fmt.Sprintf(`{"identities":[{"name":"kiln","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","List","Tagging","Write"]}]}`, AccessKey, SecretKey)
	if err := os.WriteFile(config, []byte(identities), 0o600); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, nil, err
	}
	ports, err := freePorts(8)
	if err != nil {
		return nil, nil, err
	}
	s3 := ports[0]
	args := []string{"server",
		"-dir=" + filepath.Join(dir, "data"), "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + ports[1], "-master.port.grpc=" + ports[2],
		"-volume.port=" + ports[3], "-volume.port.grpc=" + ports[4],
		"-filer", "-filer.port=" + ports[5], "-filer.port.grpc=" + ports[6],
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port=" + s3, "-s3.port.grpc=" + ports[7], "-s3.config=" + config,
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=64",
	}
	out := &syncBuffer{}
	cmd := exec.Command(weed, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", weed, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() string {
		// Its data is thrown away: no graceful stop (weed waits 10 s in it).
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return out.String()
	}
	s := &Server{Endpoint: "127.0.0.1:" + s3, AccessKey: AccessKey, SecretKey: SecretKey}
	if err := waitReady(s, done, 90*time.Second); err != nil {
		log := stop()
		return nil, nil, fmt.Errorf("S3 server (%s %v): %w\n%s", weed, args, err, log)
	}
	s.StartTime = time.Since(start)
	return s, stop, nil
}

// waitReady waits until the S3 gateway answers and can store an object
// (the volume server has registered with the master).
func waitReady(s *Server, exited chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if last = probe(s); last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %v", timeout, last)
}

// probe creates a bucket and writes an object through the real API.
func probe(s *Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := newClient(s)
	if err != nil {
		return err
	}
	if err := c.makeBucket(ctx, "kiln-probe"); err != nil {
		return err
	}
	return c.put(ctx, "kiln-probe", "ready", []byte("ok"))
}

func freePorts(n int) ([]string, error) {
	var ls []net.Listener
	var out []string
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return out, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 4<<20 {
		return len(p), nil // enough to see what went wrong
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
