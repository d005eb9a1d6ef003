package system

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kiln-os/kiln/store"
)

// storedPackages makes each package of pkgs (file specs as in
// newTreePackages) a valid path of a new store.
func storedPackages(t *testing.T, pkgs map[string][]string) (*store.Store, *PackageSet) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	tree := newTreePackages(t, pkgs)
	for n, sp := range tree.paths {
		d, _ := tree.Dir(n)
		if err := st.Build(context.Background(), sp, nil, func(tmp string) error { return os.Rename(d, tmp) }); err != nil {
			t.Fatal(err)
		}
	}
	return st, NewPackageSet(st.Dir, tree.paths)
}

func TestBuildEnv(t *testing.T) {
	st, pk := storedPackages(t, map[string][]string{
		"mawk":    {"usr/bin/mawk"},
		"jq":      {"usr/bin/jq", "usr/share/man/man1/jq.1.gz", "etc/jq.conf"},
		"libc6":   {"lib64/ld-linux-x86-64.so.2->/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
		"coreutl": {"bin/ls", "usr/bin/env"},
	})
	ctx := context.Background()
	env, built, err := BuildEnv(ctx, st, pk, "shell-jq")
	if err != nil {
		t.Fatal(err)
	}
	if !built || !st.Valid(env) || env.Name() != "shell-jq" {
		t.Fatalf("BuildEnv = %s, built %v, valid %v", env, built, st.Valid(env))
	}
	root := st.Physical(env)
	links := map[string]string{
		"bin/awk":                    "/usr/bin/mawk", // the alternative, straight to its target
		"bin/nawk":                   "/usr/bin/mawk",
		"bin/ls":                     mustPath(t, pk, "coreutl") + "/bin/ls",
		"bin/jq":                     mustPath(t, pk, "jq") + "/usr/bin/jq",
		"lib64/ld-linux-x86-64.so.2": "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"lib/x86_64-linux-gnu":       mustPath(t, pk, "libc6") + "/lib/x86_64-linux-gnu", // one package: collapsed
		"share/man":                  "",                                                 // no man-db: no manual pages
		"etc":                        "",                                                 // /etc is the host's
	}
	for rel, want := range links {
		got, err := os.Readlink(filepath.Join(root, rel))
		if want == "" {
			if _, lerr := os.Lstat(filepath.Join(root, rel)); !os.IsNotExist(lerr) {
				t.Errorf("%s exists in the environment, want it left out", rel)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", rel, got, err, want)
		}
	}
	info, err := st.Info(env)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Refs) != 4 {
		t.Errorf("refs %v, want the 4 packages", info.Refs)
	}
	// The second start reuses it; another package set is another path.
	again, built, err := BuildEnv(ctx, st, pk, "shell-jq")
	if err != nil || built || again != env {
		t.Errorf("second BuildEnv = %s, built %v, %v; want %s reused", again, built, err, env)
	}
	fewer := NewPackageSet(st.Dir, map[string]store.Path{"jq": pk.paths["jq"]})
	if other, err := EnvPath(fewer, "shell-jq"); err != nil || other == env {
		t.Errorf("EnvPath of fewer packages = %s, %v; want a path other than %s", other, err, env)
	}
	if p, err := EnvPath(pk, "bad name/"); err != nil || p.Name() != "env" {
		t.Errorf("EnvPath with a bad name = %s, %v; want one named env", p, err)
	}
}

func mustPath(t *testing.T, pk Packages, name string) string {
	t.Helper()
	p, ok := pk.Path(name)
	if !ok {
		t.Fatalf("no package %s", name)
	}
	return p.String()
}

func TestMergedUsrDirs(t *testing.T) {
	want := []string{"bin", "lib", "lib32", "lib64", "libx32", "sbin"}
	if got := MergedUsrDirs(); !cmp.Equal(got, want) {
		t.Errorf("MergedUsrDirs() = %v, want %v", got, want)
	}
}
