package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fileLock is an flock(2) lock on a file. flock locks belong to the open
// file description, so two goroutines of one process exclude each other
// as two processes do, and the kernel drops the lock when a holder dies.
type fileLock struct{ f *os.File }

// lockFile takes a shared or exclusive lock on name, creating the file,
// and waits (polling, so that ctx can cancel the wait) until it gets it.
func lockFile(ctx context.Context, name string, exclusive bool) (*fileLock, error) {
	l, err := tryLockFile(name, exclusive)
	for delay := time.Millisecond; err == nil && l == nil; delay = min(2*delay, 50*time.Millisecond) {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for lock %s: %w", name, ctx.Err())
		case <-time.After(delay):
		}
		l, err = tryLockFile(name, exclusive)
	}
	return l, err
}

// tryLockFile is lockFile without waiting: it returns nil, nil when the
// lock is held elsewhere.
func tryLockFile(name string, exclusive bool) (*fileLock, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, nil
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return &fileLock{f: f}, nil
}

func (l *fileLock) unlock() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the last descriptor releases the flock
		l.f = nil
	}
}
