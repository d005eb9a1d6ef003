package debian

// Decompression of indices and .deb members, and atomic file writes.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ulikunitz/xz"
)

// decompress returns the content of an index compressed as ext (.xz, .gz
// or none).
func decompress(raw []byte, ext string) ([]byte, error) {
	switch ext {
	case "":
		return raw, nil
	case ".gz":
		r, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case ".xz":
		r, err := xzReader(bytes.NewReader(raw), false)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(r)
	}
	return nil, fmt.Errorf("unknown compression %q", ext)
}

// xzReader decompresses xz through the host's xz when it has one (about
// five times faster than pure Go) unless pureGo, else with ulikunitz/xz.
func xzReader(r io.Reader, pureGo bool) (io.ReadCloser, error) {
	if path, err := exec.LookPath("xz"); err == nil && !pureGo {
		return execReader(path, r, "-T0", "-dc")
	}
	zr, err := xz.NewReader(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, err
	}
	return io.NopCloser(zr), nil
}

// execReader runs prog args with r as stdin and returns its stdout. Close
// waits for the program and reports its failure.
func execReader(prog string, r io.Reader, args ...string) (io.ReadCloser, error) {
	cmd := exec.Command(prog, args...)
	cmd.Stdin = r
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &cmdReader{ReadCloser: out, cmd: cmd, stderr: &stderr}, nil
}

type cmdReader struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   bool
}

func (c *cmdReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err == io.EOF && !c.done {
		c.done = true
		if werr := c.cmd.Wait(); werr != nil {
			return n, fmt.Errorf("%s: %v: %s", filepath.Base(c.cmd.Path), werr, strings.TrimSpace(c.stderr.String()))
		}
	}
	return n, err
}

func (c *cmdReader) Close() error {
	c.ReadCloser.Close()
	if !c.done {
		c.done = true
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
	return nil
}
