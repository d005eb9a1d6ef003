package stage1

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kiln-os/kiln/toplevel"
)

// Finder looks for the root device among the kernel's block devices.
type Finder struct {
	SysBlock string        // directory listing block devices by name; /sys/class/block
	Dev      string        // where their nodes are; /dev
	Timeout  time.Duration // give up after; 0 means 30 s
	Poll     time.Duration // between scans; 0 means 50 ms
	// Log reports what is being waited for (once at the start, then about
	// every 5 s). May be nil.
	Log func(format string, a ...any)
}

// Find returns the device node that satisfies spec, polling until it
// appears or the timeout expires.
func (f Finder) Find(ctx context.Context, spec toplevel.DeviceSpec) (string, error) {
	timeout, poll := f.Timeout, f.Poll
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if poll == 0 {
		poll = 50 * time.Millisecond
	}
	start := time.Now()
	var lastLog time.Time
	for {
		dev, seen, err := f.scan(spec)
		if err != nil {
			return "", err
		}
		if dev != "" {
			return dev, nil
		}
		waited := time.Since(start)
		if waited >= timeout {
			return "", fmt.Errorf("root device %s did not appear within %v (block devices: %s)", spec, timeout, listOrNone(seen))
		}
		if f.Log != nil && (lastLog.IsZero() || time.Since(lastLog) >= 5*time.Second) {
			f.Log("waiting for root device %s (block devices: %s)", spec, listOrNone(seen))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for root device %s: %w", spec, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// scan looks once. It returns the matching device (or "") and the names of
// the block devices it saw.
func (f Finder) scan(spec toplevel.DeviceSpec) (string, []string, error) {
	if spec.Path != "" {
		if _, err := os.Stat(spec.Path); err == nil {
			return spec.Path, nil, nil
		}
	}
	ents, err := os.ReadDir(f.SysBlock)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, fmt.Errorf("list block devices: %w", err)
	}
	var seen []string
	for _, e := range ents {
		seen = append(seen, e.Name())
	}
	sort.Strings(seen)
	if spec.Path != "" {
		return "", seen, nil
	}
	for _, name := range seen {
		dev := filepath.Join(f.Dev, name)
		sb, err := readSuperblockFile(dev)
		if err != nil {
			continue // not ready, not ext4, or not readable: keep looking
		}
		if sb.Matches(spec, dev) {
			return dev, seen, nil
		}
	}
	return "", seen, nil
}

func readSuperblockFile(name string) (Superblock, error) {
	f, err := os.Open(name)
	if err != nil {
		return Superblock{}, err
	}
	defer f.Close()
	return ReadSuperblock(f)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}
