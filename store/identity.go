package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/versioned"
)

// A store's state directory is its parent's var (Dir/../var, as /kiln/store
// and /kiln/var), so two stores in one parent would share one database,
// and a collection in one would unregister the other's paths. Each store
// therefore has an identity, a random id written in both directories:
// Dir/.kiln-store-id and StateDir/store.json (which also names the store's
// directory, for the error). Open refuses a state directory whose id is
// not the store's.

const (
	storeIDFile     = ".kiln-store-id"
	stateIDFile     = "store.json"
	identityVersion = 1
)

// ErrForeignState reports a state directory that belongs to another store.
var ErrForeignState = errors.New("the state directory belongs to another store")

type identity struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Store   string `json:"store"` // the store's directory when the id was made
}

// checkIdentity makes or checks the identity of s (see above). A
// read-only store that has no id yet (an image made before ids) gets
// one in its state directory only.
func (s *Store) checkIdentity() error {
	if storeID, err := readStoreID(s.Dir); err == nil && storeID != "" {
		if state, err := readStateID(s.StateDir); err == nil && state.ID == storeID {
			return nil // the usual case, without a lock
		}
	}
	// Two processes opening a new store make its id one at a time.
	l, err := lockFile(context.Background(), filepath.Join(s.StateDir, "identity.lock"), true)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		// A reader of a store it cannot write (an ordinary user's
		// store info on root's store): check, make nothing.
		return s.checkIdentityLocked(false)
	}
	if err != nil {
		return err
	}
	defer l.unlock()
	return s.checkIdentityLocked(true)
}

// checkIdentityLocked checks the identity and, with write, makes what is
// missing of it.
func (s *Store) checkIdentityLocked(write bool) error {
	storeID, err := readStoreID(s.Dir)
	if err != nil {
		return err
	}
	state, err := readStateID(s.StateDir)
	if err != nil {
		return err
	}
	switch {
	case storeID != "" && state.ID == storeID:
		return nil
	case storeID != "" && state.ID != "":
		return s.foreign(state)
	case storeID == "" && state.ID != "" && state.Store != s.Dir:
		if s.writable() {
			return s.foreign(state)
		}
		return nil // read-only, made before ids
	case !write && (storeID != "" || state.ID != ""):
		return nil
	case storeID != "": // the state directory is new: the store's again
		return writeStateID(s.StateDir, identity{Version: identityVersion, ID: storeID, Store: s.Dir})
	case state.ID != "": // the store lost its id file, or cannot keep one
		return s.writeStoreID(state.ID)
	}
	// Neither has an id: a new store, or one made before ids. Records of
	// paths this store does not hold are another store's.
	if err := s.checkLegacyState(); err != nil || !write {
		return err
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	if err := s.writeStoreID(id); err != nil {
		return err
	}
	return writeStateID(s.StateDir, identity{Version: identityVersion, ID: id, Store: s.Dir})
}

func (s *Store) foreign(state identity) error {
	return fmt.Errorf("%w: %s is the state of the store %s, not of %s; a store keeps its state in its parent's var directory, so give each store a parent of its own (e.g. %s)",
		ErrForeignState, s.StateDir, state.Store, s.Dir, filepath.Join(s.Dir, "store"))
}

// checkLegacyState refuses a state directory without an id whose records
// name none of the paths in this store (a sibling's, made before ids).
func (s *Store) checkLegacyState() error {
	paths, err := s.registered()
	if err != nil || len(paths) == 0 {
		return err
	}
	for _, p := range paths {
		if _, err := os.Lstat(s.Physical(p)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s records %d paths and %s holds none of them; a store keeps its state in its parent's var directory, so give each store a parent of its own",
		ErrForeignState, s.StateDir, len(paths), s.Dir)
}

func (s *Store) writable() bool { return unix.Access(s.Dir, unix.W_OK) == nil }

func (s *Store) writeStoreID(id string) error {
	err := fsutil.WriteFile(filepath.Join(s.Dir, storeIDFile), []byte(id+"\n"), 0o444)
	if errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission) {
		return nil // a read-only store: its state directory knows it
	}
	return err
}

func readStoreID(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, storeIDFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read store id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func readStateID(stateDir string) (identity, error) {
	name := filepath.Join(stateDir, stateIDFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return identity{}, nil
	}
	if err != nil {
		return identity{}, fmt.Errorf("read store identity: %w", err)
	}
	var id identity
	if _, err := versioned.Decode(b, identityVersion, &id); err != nil {
		return identity{}, fmt.Errorf("parse %s: %w", name, err)
	}
	return id, nil
}

func writeStateID(stateDir string, id identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(stateDir, stateIDFile), append(b, '\n'), 0o644)
}

// WriteIdentity gives a staged store (an image's kiln/store and kiln/var)
// an identity derived from seed, so that the same image is the same bytes.
// storeDir is recorded as the logical /kiln/store.
func WriteIdentity(storeDir, stateDir, seed string) error {
	sum := sha256.Sum256([]byte("kiln store identity\x00" + seed))
	id := hex.EncodeToString(sum[:16])
	if err := os.WriteFile(filepath.Join(storeDir, storeIDFile), []byte(id+"\n"), 0o444); err != nil {
		return fmt.Errorf("write store identity: %w", err)
	}
	b, _ := json.MarshalIndent(identity{Version: identityVersion, ID: id, Store: LogicalDir}, "", "  ")
	if err := os.WriteFile(filepath.Join(stateDir, stateIDFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write store identity: %w", err)
	}
	return nil
}
