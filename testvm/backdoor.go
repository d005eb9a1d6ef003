package testvm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// The backdoor is a root bash in the guest reading commands from the
// virtio console /dev/hvc0 and writing their output there, started by a
// unit in test images:
//
//	stty -F /dev/hvc0 raw -echo; echo kiln-backdoor-ready >/dev/hvc0
//	exec bash --noprofile --norc </dev/hvc0 >/dev/hvc0 2>&1
//
// Its stdin is a terminal, so that bash is interactive: it prints a prompt
// before reading each line (readline does not echo, as the terminal's echo
// is off). The host's first line to a new shell empties PS1 and PS2 and
// discards everything through its marker.
//
// The host end is QEMU's chardev socket. Each command travels base64
// encoded, so quotes and newlines in it cannot break the framing, runs in
// its own bash with stdin from /dev/null (so it cannot eat the next
// command), and is followed by a marker line unique to it carrying the
// exit status.

// BackdoorReady is the line the guest's backdoor prints when it starts.
const BackdoorReady = "kiln-backdoor-ready"

var (
	// ErrBackdoorClosed reports that the connection to the guest's shell ended.
	ErrBackdoorClosed = errors.New("backdoor connection closed")
)

const markerPrefix = "kiln-backdoor-done-"

// shell is the host end of the backdoor.
type shell struct {
	cmdMu sync.Mutex // serializes commands
	w     io.Writer

	mu        sync.Mutex // guards everything below
	buf       []byte     // unread output
	ready     bool       // the ready line was seen since the last restart
	prompted  bool       // the new shell's prompt was silenced
	err       error      // read error; the shell is dead
	changed   chan struct{}
	abandoned [][]byte // markers of commands given up on
}

// newShell starts reading rw; the caller closes rw to stop it.
func newShell(rw io.ReadWriter) *shell {
	s := &shell{w: rw, changed: make(chan struct{})}
	go s.readLoop(rw)
	return s
}

func (s *shell) readLoop(r io.Reader) {
	b := make([]byte, 32<<10)
	for {
		n, err := r.Read(b)
		s.mu.Lock()
		s.buf = append(s.buf, b[:n]...)
		if err != nil {
			s.err = fmt.Errorf("%w: %v", ErrBackdoorClosed, err)
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// wait calls check under the lock each time output arrives until it
// reports done, the shell dies or ctx ends.
func (s *shell) wait(ctx context.Context, check func() (bool, error)) error {
	for {
		s.mu.Lock()
		done, err := check()
		if !done && err == nil && s.err != nil {
			err = s.err
		}
		ch := s.changed
		s.mu.Unlock()
		if done || err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// readyLine returns the index of a ready line starting a line of buf, or -1.
func readyLine(buf []byte) int {
	line := []byte(BackdoorReady + "\n")
	for off := 0; ; {
		i := bytes.Index(buf[off:], line)
		if i < 0 {
			return -1
		}
		if off+i == 0 || buf[off+i-1] == '\n' {
			return off + i
		}
		off += i + 1
	}
}

// consumeReady drops output through a ready line, if one arrived.
// Called with s.mu held.
func (s *shell) consumeReady() bool {
	i := readyLine(s.buf)
	if i < 0 {
		return false
	}
	s.buf = s.buf[i+len(BackdoorReady)+1:]
	s.ready = true
	s.prompted = false
	s.abandoned = nil // a new shell has none of the old one's commands
	return true
}

// waitReady waits until the guest's shell announced itself.
func (s *shell) waitReady(ctx context.Context) error {
	err := s.wait(ctx, func() (bool, error) { return s.ready || s.consumeReady(), nil })
	if err != nil {
		return fmt.Errorf("wait for the backdoor: %w", err)
	}
	return nil
}

// isReady reports whether the shell is up without waiting.
func (s *shell) isReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready || s.consumeReady()
}

// expectRestart forgets the current shell: the next command waits for a
// new ready line (after a reboot).
func (s *shell) expectRestart() {
	s.mu.Lock()
	s.ready = false
	s.buf = nil
	s.mu.Unlock()
}

// restart sends a line that ends the shell (a reboot) and forgets it.
func (s *shell) restart(ctx context.Context, line string) error {
	if err := s.waitReady(ctx); err != nil {
		return err
	}
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	s.expectRestart()
	if _, err := io.WriteString(s.w, line+"\n"); err != nil {
		return fmt.Errorf("send to the backdoor: %w", err)
	}
	return nil
}

// send writes a raw line to the shell without waiting for anything, for
// commands that do not return (poweroff, reboot).
func (s *shell) send(ctx context.Context, line string) error {
	if err := s.waitReady(ctx); err != nil {
		return err
	}
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	if _, err := io.WriteString(s.w, line+"\n"); err != nil {
		return fmt.Errorf("send to the backdoor: %w", err)
	}
	return nil
}

// frame returns the line that runs cmd in a subshell and a marker unique
// to it. eval in a subshell, not "bash -c", so that no exec limits the
// size of a command and nothing it changes outlives it.
func frame(cmd string) (line string, marker []byte) {
	enc := base64.StdEncoding.EncodeToString([]byte(cmd))
	return frameRaw(fmt.Sprintf("(eval \"$(echo %s | base64 -d)\") </dev/null 2>&1", enc))
}

// frameRaw returns a line that runs text in the backdoor shell itself.
func frameRaw(text string) (line string, marker []byte) {
	var id [12]byte
	rand.Read(id[:])
	m := markerPrefix + hex.EncodeToString(id[:])
	return fmt.Sprintf("%s; echo \"%s $?\"\n", text, m), []byte(m)
}

// run executes cmd in the guest and returns its output (stdout and stderr
// merged) and exit status.
func (s *shell) run(ctx context.Context, cmd string) (string, int, error) {
	if err := s.waitReady(ctx); err != nil {
		return "", -1, err
	}
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	if err := s.silencePrompt(ctx); err != nil {
		return "", -1, err
	}
	line, marker := frame(cmd)
	return s.exec(ctx, cmd, line, marker)
}

// silencePrompt empties the prompts of a newly started shell.
// Called with s.cmdMu held.
func (s *shell) silencePrompt(ctx context.Context) error {
	s.mu.Lock()
	done := s.prompted
	s.mu.Unlock()
	if done {
		return nil
	}
	line, marker := frameRaw(setupLine)
	if _, _, err := s.exec(ctx, setupLine, line, marker); err != nil {
		return fmt.Errorf("set up the backdoor shell: %w", err)
	}
	s.mu.Lock()
	s.prompted = true
	s.mu.Unlock()
	return nil
}

// setupLine empties the interactive shell's prompts; it runs in the
// backdoor shell itself, not in a child.
// Turning line editing off makes bash read plain lines instead of
// feeding a long command through readline one byte at a time.
const setupLine = "PS1= PS2= PROMPT_COMMAND=; set +o emacs +o vi"

// exec sends one framed command and waits for its marker.
// Called with s.cmdMu held.
func (s *shell) exec(ctx context.Context, cmd, line string, marker []byte) (string, int, error) {
	if d, ok := ctx.Deadline(); ok {
		if wd, ok := s.w.(interface{ SetWriteDeadline(time.Time) error }); ok {
			wd.SetWriteDeadline(d)
			defer wd.SetWriteDeadline(time.Time{})
		}
	}
	if _, err := io.WriteString(s.w, line); err != nil {
		return "", -1, fmt.Errorf("send command: %w", err)
	}
	var out string
	status := -1
	err := s.wait(ctx, func() (bool, error) {
		s.dropAbandoned()
		i := bytes.Index(s.buf, marker)
		if i < 0 {
			return false, nil
		}
		rest := s.buf[i+len(marker):]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return false, nil
		}
		code, perr := strconv.Atoi(string(bytes.TrimSpace(rest[:nl])))
		if perr != nil {
			return false, fmt.Errorf("malformed status line %q", rest[:nl])
		}
		out, status = string(s.buf[:i]), code
		s.buf = rest[nl+1:]
		return true, nil
	})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			s.mu.Lock()
			s.abandoned = append(s.abandoned, marker)
			s.mu.Unlock()
		}
		return "", -1, fmt.Errorf("run %q: %w", abbreviate(cmd), err)
	}
	return out, status, nil
}

// dropAbandoned discards the output of commands given up on, through
// their marker lines. Called with s.mu held.
func (s *shell) dropAbandoned() {
	for len(s.abandoned) > 0 {
		i := bytes.Index(s.buf, s.abandoned[0])
		if i < 0 {
			return
		}
		nl := bytes.IndexByte(s.buf[i:], '\n')
		if nl < 0 {
			return
		}
		s.buf = s.buf[i+nl+1:]
		s.abandoned = s.abandoned[1:]
	}
}

func abbreviate(s string) string {
	const max = 60
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + "…"
}
