package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-os/kiln/debian"
)

// Which lock a host file uses. Each host file has its own: web1.hcl is
// locked in web1.lock beside it, so two hosts in one directory never
// overwrite each other's lock. A directory's kiln.lock from before
// per-host locks is still read, as long as it was not written for
// another host file and the host has no lock of its own. The default
// system is locked in ./kiln.lock. --lock FILE overrides all of this.

// lockFor returns the lock file a verb reads for hostFile ("" for the
// default system).
func (r *Run) lockFor(hostFile string) string {
	if r.Lock != "" {
		return r.Path(r.Lock)
	}
	if hostFile == "" {
		return r.Path(debian.LockFile)
	}
	own := r.hostLock(hostFile)
	if _, err := os.Stat(own); err == nil {
		return own
	}
	shared := filepath.Join(filepath.Dir(r.Path(hostFile)), debian.LockFile)
	l, err := debian.ReadLock(shared)
	switch {
	case err == nil && (l.Host == "" || l.Host == filepath.Base(hostFile)):
		return shared
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return shared // there but unreadable: reading it reports why
	}
	return own
}

// hostLock is the host file's own lock: HOST.lock beside it.
func (r *Run) hostLock(hostFile string) string {
	return filepath.Join(filepath.Dir(r.Path(hostFile)), debian.HostLockFile(hostFile))
}

// lockTarget returns the file kiln lock writes for hostFile: --lock,
// else the host's own lock (a shared kiln.lock is read, never rewritten
// for a host file).
func (r *Run) lockTarget(hostFile string) string {
	switch {
	case r.Lock != "":
		return r.Path(r.Lock)
	case hostFile == "":
		return r.Path(debian.LockFile)
	}
	return r.hostLock(hostFile)
}

// checkLockOwner refuses to overwrite file when it holds a lock written
// for another host file than hostFile.
func checkLockOwner(file, hostFile string) error {
	l, err := debian.ReadLock(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return nil // unreadable: kiln lock reports it (and --update replaces it)
	}
	host := ""
	if hostFile != "" {
		host = filepath.Base(hostFile)
	}
	if l.Host == host || (l.Version == 1 && l.Host == "") {
		return nil
	}
	owner := "the default system"
	if l.Host != "" {
		owner = l.Host
	}
	return fmt.Errorf("%s was written for %s: kiln does not overwrite another host's lock (give --lock FILE)", file, owner)
}
