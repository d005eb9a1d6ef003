package system

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/store"
)

// docOutput is a package's documentation output (debian.SplitDocs).
type docOutput struct {
	pkg  string
	path store.Path
	phys string
}

// docOutputs lists the documentation outputs of the packages that have
// one (their main output names it in debian.DocMarker), in package name
// order. Each must be in the store beside its main output: Realize with
// Documentation set restores those a collection removed.
func docOutputs(pk Packages) ([]docOutput, error) {
	var out []docOutput
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		b, err := os.ReadFile(filepath.Join(d, debian.DocMarker))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("documentation of %s: %w", n, err)
		}
		sp, err := store.ParsePath(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("documentation of %s: %s: %w", n, debian.DocMarker, err)
		}
		phys := filepath.Join(filepath.Dir(d), sp.Base())
		if _, err := os.Lstat(phys); err != nil {
			return nil, fmt.Errorf("documentation of %s: %s is not in the store (fetch it again): %w", n, sp, err)
		}
		out = append(out, docOutput{pkg: n, path: sp, phys: phys})
	}
	return out, nil
}
