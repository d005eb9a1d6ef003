package system

import (
	"context"
	"fmt"

	"github.com/kiln-os/kiln/store"
)

// An environment is the sw forest of a package set alone, without a
// system around it: no kernel, no kiln, no etc tree. `kiln shell` mounts
// one as /usr over the host's other directories. Since the /etc beside it
// is the host's, which has none of kiln's alternatives, an environment's
// alternatives link straight to their targets (/usr/bin/awk →
// /usr/bin/mawk) instead of through /etc/alternatives.

// envBuilder is the environment builder's version (see the builder
// versions in plan.go).
const envBuilder = "env/1"

// EnvPath returns the store path of the environment of pk, named name
// ("env" when name is not a valid store path name). Its key is the
// package paths and the alternatives table: the alternatives chosen
// follow from those two, so computing the path reads nothing.
func EnvPath(pk Packages, name string) (store.Path, error) {
	k := store.NewKey(envBuilder)
	for _, n := range pk.Names() {
		sp, _ := pk.Path(n)
		k.AddPath("package", sp)
	}
	k.Add("alternatives", fmt.Sprint(alternativeTable))
	if store.ValidateName(name) != nil {
		name = "env"
	}
	return k.Path(name)
}

// BuildEnv makes the environment of pk in st unless it is valid already,
// and returns it; built says whether it was made now. The path refers to
// every package, and stays a temporary GC root while this process runs.
func BuildEnv(ctx context.Context, st *store.Store, pk Packages, name string) (p store.Path, built bool, err error) {
	p, err = EnvPath(pk, name)
	if err != nil {
		return p, false, err
	}
	var refs []store.Path
	for _, n := range pk.Names() {
		sp, _ := pk.Path(n)
		refs = append(refs, sp)
	}
	err = st.Build(ctx, p, refs, func(tmp string) error {
		built = true
		return writeEnv(pk, tmp)
	})
	if err != nil {
		return p, false, fmt.Errorf("build environment: %w", err)
	}
	return p, built, nil
}

// writeEnv writes the forest of every package of pk, with the
// alternatives, at tmp.
func writeEnv(pk Packages, tmp string) error {
	f := newForest()
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		sp, _ := pk.Path(n)
		if err := f.add(packageSource(pk, n, sp.String(), d)); err != nil {
			return err
		}
	}
	for _, a := range chooseAlternatives(pk) {
		if err := f.putAlternative(a.Link, &leaf{src: -1, target: a.Target, isLink: true}); err != nil {
			return err
		}
	}
	_, err := f.write(tmp)
	return err
}

// MergedUsrDirs are the top-level directories Debian's merged /usr makes
// links into /usr (/bin → usr/bin, ...), which a forest holds under /usr.
func MergedUsrDirs() []string {
	var out []string
	for _, top := range orderedKeys(swTopLevel) {
		if swTopLevel[top] != "" {
			out = append(out, top)
		}
	}
	return out
}
