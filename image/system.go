package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/internal/parallel"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// SystemOptions says how SystemLayout stages an image. The boot loader
// settings are the current toplevel's (its bootspec's, else
// toplevel.DefaultLoader), and systemd-boot comes from the closure
// (boot.FindSystemdBoot).
type SystemOptions struct {
	Size, ESPSize int64  // as in Layout; 0 for the defaults
	Format        Format // as in Layout ("": Raw)
	// Dir is where the trees are staged; it must not exist. Default: a new
	// directory in the store's state directory, on the store's file
	// system, so that files are hard-linked rather than copied.
	Dir string
}

// SystemLayout stages the toplevels as generations 1…n of the system
// profile, the last one current and the boot loader's default: a root tree
// (their closure under kiln/store, hard-linked from st; their validity
// records under kiln/var/db; the profile links; the empty top-level
// directories) and the ESP files planned by boot.PlanESP from their
// bootspecs. The Layout's seed is the current toplevel's hash. cleanup
// removes the staged trees; call it after ApplyDisk.
func SystemLayout(st *store.Store, opts SystemOptions, toplevels ...store.Path) (l Layout, cleanup func() error, err error) {
	if len(toplevels) == 0 {
		return Layout{}, nil, errors.New("stage system image: no toplevel")
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp(st.StateDir, "image-"); err != nil {
			return Layout{}, nil, fmt.Errorf("stage system image: %w", err)
		}
	} else if err := os.Mkdir(dir, 0o755); err != nil {
		return Layout{}, nil, fmt.Errorf("stage system image: %w", err)
	}
	remove := func() error { return removeStaged(dir) }
	defer func() {
		if err != nil {
			remove()
		}
	}()
	root := filepath.Join(dir, "root")
	if err := stageRoot(st, root, toplevels); err != nil {
		return Layout{}, nil, fmt.Errorf("stage system image: %w", err)
	}
	esp, err := stageESP(st, filepath.Join(dir, "esp"), toplevels)
	if err != nil {
		return Layout{}, nil, fmt.Errorf("stage system image: %w", err)
	}
	current := toplevels[len(toplevels)-1]
	return Layout{Size: opts.Size, ESPSize: opts.ESPSize, Seed: current.Hash(), ESP: esp, RootDir: root}, remove, nil
}

func stageRoot(st *store.Store, root string, toplevels []store.Path) error {
	closure, err := st.Closure(toplevels...)
	if err != nil {
		return err
	}
	storeDir := filepath.Join(root, "kiln", "store")
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		return err
	}
	// Linking is bound by metadata latency, not CPU: a few store paths at
	// a time.
	errs := parallel.Do(len(closure), 4, func(i int) error {
		p := closure[i]
		if err := linkTree(st.Physical(p), filepath.Join(storeDir, p.Base())); err != nil {
			return fmt.Errorf("stage %s: %w", p, err)
		}
		return nil
	})
	if err := parallel.First(errs); err != nil {
		return err
	}
	if err := st.ExportRecords(filepath.Join(root, "kiln", "var"), closure...); err != nil {
		return err
	}
	profiles := filepath.Join(root, "kiln", "var", "profiles")
	for i, top := range toplevels {
		if err := store.WriteProfileLinks(profiles, "system", i+1, top); err != nil {
			return err
		}
	}
	for _, d := range toplevel.RootDirs {
		p := filepath.Join(root, d.Name)
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, d.Mode); err != nil {
			return err
		}
	}
	return nil
}

// linkTree recreates the store path src at dst: directories made with
// src's mode once filled, files and symlinks hard-linked (copied or
// recreated across file systems). mkfs.ext4 -d keeps hard links as links.
func linkTree(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		// link(2) does not follow symlinks: hard-linking the link is
		// several times faster than making a new one (measured: a new
		// inode per symlink is most of the staging time).
		if err := os.Link(src, dst); err == nil {
			return nil
		}
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case fi.Mode().IsRegular():
		if err := os.Link(src, dst); err == nil {
			return nil
		}
		return copyFile(src, dst, fi.Mode().Perm())
	case !fi.IsDir():
		return fmt.Errorf("%s: unsupported file type %s", src, fi.Mode().Type())
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := linkTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return os.Chmod(dst, fi.Mode().Perm())
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// stageESP plans the ESP for the toplevels' bootspecs and returns its
// files: store files by their physical paths, generated ones written under
// dir.
func stageESP(st *store.Store, dir string, toplevels []store.Path) (map[string]string, error) {
	var gens []boot.Generation
	for i, top := range toplevels {
		g, err := boot.ReadGeneration(st, i+1, top, time.Time{})
		if err != nil {
			return nil, fmt.Errorf("generation %d: %w", i+1, err)
		}
		gens = append(gens, g)
	}
	settings := toplevel.DefaultLoader
	if l := gens[len(gens)-1].Loader; l != nil {
		settings = *l
	}
	loader := boot.LoaderConfigOf(settings)
	efi, err := boot.FindSystemdBoot(st, toplevels...)
	if err != nil {
		return nil, err
	}
	loader.SystemdBoot = efi
	plan, err := boot.PlanESP(gens, len(toplevels), loader, nil)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for p, f := range plan.Files {
		if f.Source != "" {
			logical, err := st.ResolveLogical(f.Source)
			if err != nil {
				return nil, fmt.Errorf("ESP file %s: %w", p, err)
			}
			files[p] = st.PhysicalPath(logical)
			continue
		}
		host := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(host, f.Data, 0o644); err != nil {
			return nil, err
		}
		files[p] = host
	}
	return files, nil
}

// removeStaged deletes a staging directory, making its read-only store
// directories writable first.
func removeStaged(dir string) error {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove staged image %s: %w", dir, err)
	}
	return nil
}

// WriteSystem writes the disk image of the toplevels (the last one
// current) from st to out: it stages them (SystemLayout), plans the disk
// (PlanDisk), writes it (ApplyDisk, progress may be nil) and removes the
// staged trees.
func WriteSystem(ctx context.Context, st *store.Store, out string, opts SystemOptions, progress func(done, total int64), toplevels ...store.Path) error {
	l, cleanup, err := SystemLayout(st, opts, toplevels...)
	if err != nil {
		return err
	}
	defer cleanup()
	l.Format = opts.Format
	plan, err := PlanDisk(l)
	if err != nil {
		return err // PlanDisk's errors say "plan image"
	}
	return ApplyDisk(ctx, out, plan, progress)
}
