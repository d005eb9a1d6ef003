package system

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/store"
)

// ApplyBuild builds the parts of p whose store paths are not valid in st,
// independent ones in parallel; progress (may be nil) hears of each part,
// one call at a time, as it is reused or built.
func ApplyBuild(ctx context.Context, st *store.Store, p *BuildPlan, progress func(Event)) (*Result, error) {
	r := p.result()
	// Protect every part before looking at it: a collection running now
	// must not take a part this build reuses (or its closure, the
	// packages) before the caller roots the toplevel.
	parts := make([]store.Path, 0, len(p.Parts))
	for _, sp := range p.Parts {
		parts = append(parts, sp)
	}
	if err := st.Protect(ctx, parts...); err != nil {
		return nil, err
	}
	var mu, events sync.Mutex
	event := func(e Event) {
		if progress != nil {
			events.Lock()
			defer events.Unlock()
			progress(e)
		}
	}
	part := func(name string, refs []store.Path, fill func(tmp string) error) error {
		sp := p.Parts[name]
		if st.Valid(sp) {
			event(Event{Part: name, Path: sp, Reused: true})
			return nil
		}
		err := st.Build(ctx, sp, refs, fill)
		if err != nil {
			err = fmt.Errorf("build %s: %w", name, err)
		} else {
			mu.Lock()
			r.Built = append(r.Built, name)
			mu.Unlock()
		}
		event(Event{Part: name, Path: sp, Err: err})
		return err
	}
	kiln := p.Parts[PartKiln]
	kmods := p.Parts[PartKernelModules]
	if err := part(PartKiln, nil, func(tmp string) error {
		if err := os.MkdirAll(filepath.Join(tmp, "bin"), 0o755); err != nil {
			return err
		}
		return copyRegular(p.opts.KilnBinary, filepath.Join(tmp, "bin", "kiln"))
	}); err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := part(PartKernelModules, nil, func(tmp string) error {
			return buildKernelModules(gctx, p.pk, p.Kernel, tmp)
		})
		if err != nil {
			return err
		}
		g.Go(func() error {
			return part(PartInitrd, nil, func(tmp string) error { return p.buildInitrd(st, tmp, &r.InitrdSize) })
		})
		swRefs := append(p.pkgRefs(), append(p.docRefs(), kmods, kiln)...)
		if us, ok := p.Parts[PartScripts]; ok {
			if err := part(PartScripts, nil, func(tmp string) error { return writeUsrFiles(p.usr, tmp) }); err != nil {
				return err
			}
			swRefs = append(swRefs, us)
		}
		if lc, ok := p.Parts[PartLocales]; ok {
			if err := part(PartLocales, nil, func(tmp string) error { return buildLocales(gctx, p.pk, p.locales, tmp) }); err != nil {
				return err
			}
			swRefs = append(swRefs, lc)
		}
		if gs, ok := p.Parts[PartGlibSchemas]; ok {
			if err := part(PartGlibSchemas, nil, func(tmp string) error { return buildGlibSchemas(gctx, p.pk, tmp) }); err != nil {
				return err
			}
			swRefs = append(swRefs, gs)
		}
		return part(PartSw, swRefs, func(tmp string) error {
			return p.buildSw(st, tmp)
		})
	})
	g.Go(func() error {
		refs := p.etcRefs()
		if hw, ok := p.Parts[PartHwdb]; ok {
			if err := part(PartHwdb, nil, func(tmp string) error { return buildHwdb(gctx, p.pk, tmp) }); err != nil {
				return err
			}
			refs = append(refs, hw)
		}
		if jc, ok := p.Parts[PartCatalog]; ok {
			if err := part(PartCatalog, nil, func(tmp string) error { return buildCatalog(gctx, p.pk, tmp) }); err != nil {
				return err
			}
			refs = append(refs, jc)
		}
		return part(PartEtc, refs, func(tmp string) error { return writeEtc(p.etc, tmp) })
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if r.InitrdSize == 0 {
		if fi, err := os.Stat(st.Physical(p.Parts[PartInitrd])); err == nil {
			r.InitrdSize = fi.Size()
		}
	}
	kdir, _ := p.pk.Dir(p.Kernel.Package)
	if err := part(PartKernel, nil, func(tmp string) error {
		return copyRegular(filepath.Join(kdir, p.Kernel.Vmlinuz), tmp)
	}); err != nil {
		return nil, err
	}
	var refs []store.Path
	if !p.Systemd.IsZero() {
		refs = append(refs, p.Systemd)
	}
	for _, n := range orderedKeys(p.Parts) {
		if n != PartToplevel {
			refs = append(refs, p.Parts[n])
		}
	}
	if err := part(PartToplevel, refs, p.writeToplevel); err != nil {
		return nil, err
	}
	return r, nil
}

func (p *BuildPlan) buildInitrd(st *store.Store, tmp string, size *int64) error {
	index := filepath.Join(st.Physical(p.Parts[PartKernelModules]), "lib", "modules", p.Kernel.Version)
	in, err := initrdContent(p.opts.KilnBinary, index, index, p.Kernel.Version, p.initrdMods)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	rep, err := boot.WriteInitrd(f, in)
	if err != nil {
		f.Close()
		return err
	}
	*size = rep.Compressed
	return f.Close()
}

// buildSw writes the forest: every package except the kernel's modules
// (kernel-modules has them with depmod's indices), kiln, and the
// alternatives' links.
func (p *BuildPlan) buildSw(st *store.Store, tmp string) error {
	f := newForest()
	for _, n := range p.pk.Names() {
		d, _ := p.pk.Dir(n)
		sp, _ := p.pk.Path(n)
		if n == p.Kernel.Package {
			continue // its modules are in kernel-modules, its image in kernel
		}
		if err := f.add(packageSource(p.pk, n, sp.String(), d)); err != nil {
			return err
		}
	}
	for _, d := range p.docs {
		if err := f.add(packageSource(p.pk, d.path.Name(), d.path.String(), d.phys)); err != nil {
			return err
		}
	}
	kmods := p.Parts[PartKernelModules]
	if err := f.add(swSource{Name: PartKernelModules, Logical: kmods.String(), Phys: st.Physical(kmods)}); err != nil {
		return err
	}
	kiln := p.Parts[PartKiln]
	if err := f.add(swSource{Name: "kiln", Logical: kiln.String(), Phys: st.Physical(kiln)}); err != nil {
		return err
	}
	if us, ok := p.Parts[PartScripts]; ok {
		if err := f.add(swSource{Name: PartScripts, Logical: us.String(), Phys: st.Physical(us)}); err != nil {
			return err
		}
	}
	if lc, ok := p.Parts[PartLocales]; ok {
		if err := f.add(swSource{Name: PartLocales, Logical: lc.String(), Phys: st.Physical(lc)}); err != nil {
			return err
		}
	}
	if gs, ok := p.Parts[PartGlibSchemas]; ok {
		if err := f.add(swSource{Name: PartGlibSchemas, Logical: gs.String(), Phys: st.Physical(gs)}); err != nil {
			return err
		}
	}
	for _, a := range p.alts {
		if path.IsAbs(a.Link) {
			continue // under /etc: an etc entry
		}
		l := &leaf{src: -1, target: "/etc/alternatives/" + a.Name, isLink: true}
		if err := f.putAlternative(a.Link, l); err != nil {
			return err
		}
	}
	if err := p.redirectWrapped(f); err != nil {
		return err
	}
	_, err := f.write(tmp)
	return err
}

// packageSource is the forest source of a package's tree (or of its
// documentation output) in pk.
func packageSource(pk Packages, name, logical, phys string) swSource {
	src := swSource{Name: name, Logical: logical, Phys: phys}
	if _, ok := pk.Path("man-db"); !ok {
		// Manual pages without man-db are unreadable: 1.5k links of a
		// block each in the default system.
		src.Skip = []string{"usr/share/man"}
	}
	return src
}

// putAlternative adds a link made by kiln itself (not from a package).
func (f *forest) putAlternative(dst string, l *leaf) error {
	parent := f.root
	for _, c := range strings.Split(path.Dir(dst), "/") {
		m := parent.children[c]
		if m == nil {
			m = &fnode{children: map[string]*fnode{}, badLink: true}
			parent.children[c] = m
		}
		if m.children == nil {
			return fmt.Errorf("alternative %s: /usr/%s is not a directory", dst, path.Dir(dst))
		}
		m.badLink = true // never collapse a directory kiln adds to
		parent = m
	}
	if old := parent.children[path.Base(dst)]; old != nil {
		return nil // a package provides the file itself
	}
	parent.children[path.Base(dst)] = &fnode{leaf: l}
	return nil
}

// hwdbPrefix is a fixed-length stand-in for the build directory that
// systemd-hwdb embeds in hwdb.bin (source file names), so the output does
// not depend on where it was built.
const hwdbPrefix = "/tmp/kiln-hwdb-0000000000000000"

// buildHwdb compiles udev's hwdb.d into hwdb.bin (what `systemd-hwdb
// update` in udev's postinst would do), with the closure's own
// systemd-hwdb.
func buildHwdb(ctx context.Context, pk Packages, out string) error {
	_, hwdb, ok := find(pk, "usr/bin/systemd-hwdb")
	if !ok {
		return fmt.Errorf("systemd-hwdb not in the locked packages")
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	root := "/tmp/kiln-hwdb-" + hex.EncodeToString(rnd[:])
	if len(root) != len(hwdbPrefix) {
		return fmt.Errorf("hwdb: build directory name length")
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		return fmt.Errorf("hwdb: %w", err)
	}
	defer os.RemoveAll(root)
	if err := gatherFiles(pk, []string{"lib/udev/hwdb.d", "usr/lib/udev/hwdb.d"}, "*.hwdb", filepath.Join(root, "lib", "udev", "hwdb.d")); err != nil {
		return fmt.Errorf("hwdb: %w", err)
	}
	tool, err := newClosureTool(pk)
	if err != nil {
		return fmt.Errorf("hwdb: %w", err)
	}
	if err := runTool(tool.command(ctx, hwdb, "systemd-hwdb", "update", "--root="+root), "systemd-hwdb"); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(root, "etc", "udev", "hwdb.bin"))
	if err != nil {
		return fmt.Errorf("hwdb: %w", err)
	}
	b = bytes.ReplaceAll(b, []byte(root), []byte(hwdbPrefix))
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "hwdb.bin"), b, 0o444)
}

// buildCatalog compiles the packages' systemd catalogs into the database
// `journalctl -x` explains messages from (what `journalctl
// --update-catalog` in systemd's postinst and its trigger would do), with
// the closure's own journalctl. The database holds no path.
func buildCatalog(ctx context.Context, pk Packages, out string) error {
	_, jctl, ok := find(pk, "usr/bin/journalctl")
	if !ok {
		return fmt.Errorf("journalctl not in the locked packages")
	}
	root, err := os.MkdirTemp("", "kiln-catalog-")
	if err != nil {
		return fmt.Errorf("journal-catalog: %w", err)
	}
	defer os.RemoveAll(root)
	if err := gatherFiles(pk, []string{"usr/lib/systemd/catalog", "lib/systemd/catalog"}, "*.catalog", filepath.Join(root, "usr", "lib", "systemd", "catalog")); err != nil {
		return fmt.Errorf("journal-catalog: %w", err)
	}
	tool, err := newClosureTool(pk)
	if err != nil {
		return fmt.Errorf("journal-catalog: %w", err)
	}
	if err := runTool(tool.command(ctx, jctl, "journalctl", "--root="+root, "--update-catalog"), "journalctl --update-catalog"); err != nil {
		return err
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	return copyRegular(filepath.Join(root, "var", "lib", "systemd", "catalog", "database"), filepath.Join(out, "database"))
}

// gatherFiles copies into dst every file matching pattern in the
// packages' dirs (package-relative), the first package (in name order)
// holding a name winning, as the merged /usr has it.
func gatherFiles(pk Packages, dirs []string, pattern, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		for _, dir := range dirs {
			m, _ := filepath.Glob(filepath.Join(d, dir, pattern))
			for _, f := range m {
				if err := copyRegular(f, filepath.Join(dst, filepath.Base(f))); err != nil && !os.IsExist(err) {
					return err
				}
			}
		}
	}
	return nil
}

// writeEtc writes the etc tree: files for data and sources, symlinks for
// targets.
func writeEtc(entries []EtcEntry, out string) error {
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		dst := filepath.Join(out, filepath.FromSlash(e.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("etc %s: %w", e.Path, err)
		}
		var err error
		switch {
		case e.Target != "":
			err = os.Symlink(e.Target, dst)
		case e.Source != "":
			err = copyRegular(e.Source, dst)
		default:
			mode := os.FileMode(0o444)
			if e.Mode&0o111 != 0 {
				mode = 0o555
			}
			err = os.WriteFile(dst, e.Data, mode)
		}
		if err != nil {
			return fmt.Errorf("etc %s: %w", e.Path, err)
		}
	}
	return nil
}

// writeToplevel assembles the toplevel directory (DESIGN.md §3).
func (p *BuildPlan) writeToplevel(tmp string) error {
	if err := os.MkdirAll(filepath.Join(tmp, "bin"), 0o755); err != nil {
		return err
	}
	kiln := p.Parts[PartKiln].String() + "/bin/kiln"
	links := map[string]string{
		"init":           kiln,
		"bin/kiln":       kiln,
		"kernel":         p.Parts[PartKernel].String(),
		"initrd":         p.Parts[PartInitrd].String(),
		"kernel-modules": p.Parts[PartKernelModules].String(),
		"sw":             p.Parts[PartSw].String(),
		"etc":            p.Parts[PartEtc].String(),
	}
	if !p.Systemd.IsZero() {
		links["systemd"] = p.Systemd.String()
	}
	for _, n := range orderedKeys(links) {
		if err := os.Symlink(links[n], filepath.Join(tmp, n)); err != nil {
			return err
		}
	}
	files := map[string][]byte{
		"kernel-params":   []byte(strings.Join(p.Params, " ") + "\n"),
		"kiln-version":    []byte(p.opts.Version + "\n"),
		"boot.json":       p.bootspec,
		"activation.json": p.spec,
	}
	for _, n := range orderedKeys(files) {
		if err := os.WriteFile(filepath.Join(tmp, n), files[n], 0o444); err != nil {
			return err
		}
	}
	return nil
}

// pkgRefs are the package paths other than the kernel image package's,
// whose parts (kernel, kernel-modules) are store paths of their own.
func (p *BuildPlan) pkgRefs() []store.Path {
	var out []store.Path
	for _, n := range p.pk.Names() {
		if n != p.Kernel.Package {
			sp, _ := p.pk.Path(n)
			out = append(out, sp)
		}
	}
	return out
}

// docRefs are the documentation outputs in sw.
func (p *BuildPlan) docRefs() []store.Path {
	var out []store.Path
	for _, d := range p.docs {
		out = append(out, d.path)
	}
	return out
}

// etcRefs are the packages the etc tree names: link targets, and store
// paths inside generated files (units running pkgs.X).
func (p *BuildPlan) etcRefs() []store.Path {
	var text strings.Builder
	for _, e := range p.etc {
		text.WriteString(e.Target)
		text.WriteByte(0)
		text.Write(e.Data)
		text.WriteByte(0)
	}
	all := text.String()
	// A store path's base is its hash, a dash and its name: look at the
	// 32 characters before each dash, not for every base in the text.
	byHash := map[string][]store.Path{}
	for _, sp := range p.pkgPaths {
		b := sp.Base()
		if h, _, ok := strings.Cut(b, "-"); ok && len(h) == store.HashLen {
			byHash[h] = append(byHash[h], sp)
		}
	}
	found := map[store.Path]bool{}
	for i := store.HashLen; i < len(all); i++ {
		if all[i] != '-' {
			continue
		}
		for _, sp := range byHash[all[i-store.HashLen:i]] {
			if strings.HasPrefix(all[i-store.HashLen:], sp.Base()) {
				found[sp] = true
			}
		}
	}
	var out []store.Path
	for _, sp := range p.pkgPaths {
		if found[sp] {
			out = append(out, sp)
		}
	}
	return out
}

// store.HashLen is the length of a store path's hash, before its name.
