package system

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/toplevel"
)

// kernelInfo is the kernel image package of a system.
type kernelInfo struct {
	Package string // e.g. linux-image-6.1.0-28-cloud-amd64
	Version string // e.g. 6.1.0-28-cloud-amd64
	Vmlinuz string // package-relative, boot/vmlinuz-<Version>
}

// findKernel finds the package holding boot/vmlinuz-*. want is the
// configured kernel package (often a metapackage depending on the image):
// when it holds a kernel itself it wins, else exactly one locked
// linux-image package must hold one.
func findKernel(pk Packages, want string) (kernelInfo, error) {
	var found []kernelInfo
	for _, n := range pk.Names() {
		if n != want && !strings.HasPrefix(n, "linux-image-") {
			continue
		}
		d, _ := pk.Dir(n)
		m, _ := filepath.Glob(filepath.Join(d, "boot", "vmlinuz-*"))
		for _, v := range m {
			ver := strings.TrimPrefix(filepath.Base(v), "vmlinuz-")
			if !lexists(filepath.Join(d, "lib", "modules", ver)) && !lexists(filepath.Join(d, "usr", "lib", "modules", ver)) {
				continue
			}
			k := kernelInfo{Package: n, Version: ver, Vmlinuz: "boot/" + filepath.Base(v)}
			if n == want {
				return k, nil
			}
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return kernelInfo{}, fmt.Errorf("kernel package %q: no locked package holds boot/vmlinuz-* with its modules", want)
	case 1:
		return found[0], nil
	}
	var names []string
	for _, k := range found {
		names = append(names, k.Package)
	}
	return kernelInfo{}, fmt.Errorf("kernel package %q: several locked kernels (%s); set kernel.package to one", want, strings.Join(names, ", "))
}

// modulesDir returns the package-relative modules directory of k.
func (k kernelInfo) modulesDir(pk Packages) string {
	d, _ := pk.Dir(k.Package)
	if lexists(filepath.Join(d, "lib", "modules", k.Version)) {
		return "lib/modules/" + k.Version
	}
	return "usr/lib/modules/" + k.Version
}

// buildKernelModules fills out with lib/modules/<ver>/: the kernel
// package's module tree with every .ko compressed with zstd (libkmod and
// stage 1 read .ko.zst; the image carries a quarter of the bytes, and the
// kernel package itself stays out of the system's closure), and the
// indices depmod writes (modules.dep, modules.alias, their .bin forms...).
// depmod runs from the locked kmod through the closure's loader.
func buildKernelModules(ctx context.Context, pk Packages, k kernelInfo, out string) error {
	kdir, _ := pk.Dir(k.Package)
	src := filepath.Join(kdir, k.modulesDir(pk))
	dst := filepath.Join(out, "lib", "modules", k.Version)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return err
	}
	defer enc.Close()
	err = filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		t := filepath.Join(dst, strings.TrimPrefix(p, src))
		switch {
		case e.IsDir():
			return os.MkdirAll(t, 0o755)
		case e.Type()&fs.ModeSymlink != 0:
			return nil // build/ and source/ links of headers packages
		case strings.HasSuffix(p, ".ko"):
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(t+".zst", enc.EncodeAll(b, nil), 0o444)
		default:
			return copyRegular(p, t)
		}
	})
	if err != nil {
		return fmt.Errorf("kernel modules: %w", err)
	}
	_, kmod, ok := find(pk, "usr/bin/kmod")
	if !ok {
		return fmt.Errorf("depmod: package kmod (bin/kmod) is not locked")
	}
	tool, err := newClosureTool(pk)
	if err != nil {
		return fmt.Errorf("depmod: %w", err)
	}
	return runTool(tool.command(ctx, kmod, "depmod", "-b", out, k.Version), "depmod")
}

// moduleIndex is what modules.dep and modules.builtin say.
type moduleIndex struct {
	deps    map[string][]string // path (relative to lib/modules/<ver>) → deps in modules.dep order
	byName  map[string]string   // module name → path
	builtin map[string]bool     // module name
}

// modName normalizes a module file or name: virtio-blk, virtio_blk.ko.xz → virtio_blk.
func modName(s string) string {
	s = path.Base(s)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(s, ".ko"), "-", "_")
}

func readModuleIndex(dir string) (*moduleIndex, error) {
	ix := &moduleIndex{deps: map[string][]string{}, byName: map[string]string{}, builtin: map[string]bool{}}
	err := eachLine(filepath.Join(dir, "modules.dep"), func(l string) error {
		mod, deps, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("modules.dep: bad line %q", l)
		}
		ix.deps[mod] = strings.Fields(deps)
		ix.byName[modName(mod)] = mod
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine(filepath.Join(dir, "modules.builtin"), func(l string) error {
		ix.builtin[modName(l)] = true
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return ix, nil
}

func eachLine(file string, fn func(string) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			if err := fn(l); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// loadOrder returns the module files (relative to lib/modules/<ver>) to
// load for the wanted module names, dependencies first. Built-in modules
// need nothing; an unknown name is an error.
func (ix *moduleIndex) loadOrder(want []string) ([]string, error) {
	var order []string
	seen := map[string]bool{}
	var visit func(mod string, stack []string) error
	visit = func(mod string, stack []string) error {
		if seen[mod] {
			return nil
		}
		for _, s := range stack {
			if s == mod {
				return fmt.Errorf("module dependency cycle: %s", strings.Join(append(stack, mod), " → "))
			}
		}
		deps, ok := ix.deps[mod]
		if !ok {
			return fmt.Errorf("module %s: not in modules.dep", mod)
		}
		for _, d := range deps {
			if err := visit(d, append(stack, mod)); err != nil {
				return err
			}
		}
		seen[mod] = true
		order = append(order, mod)
		return nil
	}
	for _, w := range want {
		n := modName(w)
		if ix.builtin[n] {
			continue
		}
		mod, ok := ix.byName[n]
		if !ok {
			return nil, optionErrorf("kernel.initrd_modules", fmt.Errorf("initrd module %q: neither in modules.dep nor built into the kernel", w))
		}
		if err := visit(mod, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// rootSpec is the root file system stage 1 looks for (images label it).
const rootSpec = "LABEL=kiln-root"

// initrdContent returns what the initrd holds: the kiln binary as /init,
// the modules the root device needs (uncompressed) and
// /etc/kiln-stage1.json.
// indexDir holds modules.dep (kernel-modules), koDir the .ko files (the
// kernel package), both physical lib/modules/<kver> directories.
func initrdContent(kilnBinary, indexDir, koDir, kver string, want []string) (boot.Initrd, error) {
	ix, err := readModuleIndex(indexDir)
	if err != nil {
		return boot.Initrd{}, fmt.Errorf("read module index: %w", err)
	}
	order, err := ix.loadOrder(want)
	if err != nil {
		return boot.Initrd{}, err
	}
	in := boot.Initrd{Init: kilnBinary}
	cfg := toplevel.Stage1Config{Version: toplevel.Stage1ConfigVersion, Modules: []string{}, Root: toplevel.Stage1Root{Spec: rootSpec, FSType: "ext4"}}
	for _, m := range order {
		rel := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, ".xz"), ".zst"), ".gz")
		p := path.Join("lib/modules", kver, rel)
		in.Files = append(in.Files, boot.InitrdFile{Path: p, Source: filepath.Join(koDir, m), Mode: 0o644})
		cfg.Modules = append(cfg.Modules, "/"+p)
	}
	b, err := cfg.Encode()
	if err != nil {
		return boot.Initrd{}, err
	}
	in.Files = append(in.Files, boot.InitrdFile{Path: strings.TrimPrefix(toplevel.Stage1ConfigPath, "/"), Data: b, Mode: 0o644})
	sort.SliceStable(in.Files, func(i, j int) bool { return in.Files[i].Path < in.Files[j].Path })
	return in, nil
}

func copyRegular(src, dst string) error {
	in, size, err := fsutil.OpenRegular(src) // a pipe or /dev/zero is refused, not read forever
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, st.Mode().Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := fsutil.CopyRegular(out, in, src, size); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
