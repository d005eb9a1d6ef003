package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Processes opening a new store at once agree on its identity.
func TestOpenNewStoreConcurrently(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(dir)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	id, _ := readStoreID(dir)
	state, _ := readStateID(filepath.Join(filepath.Dir(dir), "var"))
	if id == "" || state.ID != id || state.Store != dir {
		t.Errorf("store id %q, state %+v", id, state)
	}
}

// A store that lost its id file takes its state back when the state
// names its directory; a sibling is refused with ErrForeignState.
func TestIdentity(t *testing.T) {
	s := openTest(t)
	os.Remove(filepath.Join(s.Dir, storeIDFile))
	if _, err := Open(s.Dir); err != nil {
		t.Fatalf("reopen without the id file: %v", err)
	}
	if id, _ := readStoreID(s.Dir); id == "" {
		t.Error("the id file was not written again")
	}
	_, err := Open(filepath.Join(filepath.Dir(s.Dir), "sibling"))
	if !errors.Is(err, ErrForeignState) || !strings.Contains(err.Error(), "is the state of the store "+s.Dir) {
		t.Errorf("sibling: %v", err)
	}
}
