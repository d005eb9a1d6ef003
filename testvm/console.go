package testvm

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sync"
)

// console accumulates what QEMU prints (the serial console on its
// stdout, its messages on stderr) and wakes up waiters. Waiters match
// the text without terminal control sequences and carriage returns:
// firmware colours its output, and a pattern should not have to know.
type console struct {
	mu      sync.Mutex
	buf     []byte // as printed
	text    []byte // without escape sequences and CRs
	esc     int    // escape parser state: 0 text, 1 after ESC, 2 in CSI
	cursor  int    // WaitForConsoleText matches text from here
	changed chan struct{}
	tee     io.Writer
}

func newConsole(tee io.Writer) *console {
	return &console{changed: make(chan struct{}), tee: tee}
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf = append(c.buf, p...)
	c.appendText(p)
	close(c.changed)
	c.changed = make(chan struct{})
	tee := c.tee
	c.mu.Unlock()
	if tee != nil {
		tee.Write(p) // a failing log copy must not stop the machine
	}
	return len(p), nil
}

// appendText adds p to the text without ESC sequences (CSI ones whole)
// and CRs, carrying the parser state across writes.
func (c *console) appendText(p []byte) {
	for _, b := range p {
		switch {
		case c.esc == 1 && b == '[':
			c.esc = 2
		case c.esc == 1:
			c.esc = 0
		case c.esc == 2:
			if b >= 0x40 && b <= 0x7e {
				c.esc = 0
			}
		case b == 0x1b:
			c.esc = 1
		case b != '\r':
			c.text = append(c.text, b)
		}
	}
}

// Text returns the output without terminal control sequences.
func (c *console) Text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.text)
}

// textLen is the length of the text so far.
func (c *console) textLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.text)
}

// watch waits until re matches the text after from, without consuming
// it, and returns the match; "" when ctx ends first.
func (c *console) watch(ctx context.Context, re *regexp.Regexp, from int) string {
	for {
		c.mu.Lock()
		m := re.Find(c.text[min(from, len(c.text)):])
		ch := c.changed
		c.mu.Unlock()
		if m != nil {
			return string(m)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ""
		}
	}
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// waitFor waits until re matches the output after the cursor, moves the
// cursor past the match and returns it. stop ends the wait early (QEMU
// exited) once the output so far does not match.
func (c *console) waitFor(ctx context.Context, re *regexp.Regexp, stop <-chan struct{}) (string, error) {
	stopped := false
	for {
		c.mu.Lock()
		loc := re.FindIndex(c.text[c.cursor:])
		var match string
		if loc != nil {
			match = string(c.text[c.cursor+loc[0] : c.cursor+loc[1]])
			c.cursor += loc[1]
		}
		ch := c.changed
		c.mu.Unlock()
		if loc != nil {
			return match, nil
		}
		if stopped {
			return "", fmt.Errorf("wait for console text %q: %w", re, ErrNotRunning)
		}
		select {
		case <-ch:
		case <-stop:
			stopped = true // all output is in: look once more
		case <-ctx.Done():
			return "", fmt.Errorf("wait for console text %q: %w", re, context.Cause(ctx))
		}
	}
}
