package machine

import (
	"context"
	"path/filepath"

	"github.com/kiln-os/kiln/store"
)

// Test activates top without adding a generation or touching the boot
// entries (nixos-rebuild test): the next boot starts the default entry
// again. top stays a GC root (gcroots/test in the store's state) until
// the next Test, so that a store collection does not delete the running
// system.
func (m *Machine) Test(ctx context.Context, top store.Path) (*Result, error) {
	unlock, err := m.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := m.Store.AddRoot(filepath.Join(m.Store.StateDir, "gcroots", "test"), top); err != nil {
		return nil, err
	}
	res := &Result{Toplevel: top}
	res.Activation, err = m.activate(ctx, top)
	return res, err
}
