package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/image"
	"github.com/kiln-os/kiln/store"
)

type imageFlags struct {
	config string
	out    string
	size   string
}

func init() {
	register(&command{
		name:    "image",
		summary: "build a system and write it as a bootable GPT disk image",
		usage:   "kiln image [-c host.hcl] [-o disk.img] [--size 2G]",
		flags: func(fs *flag.FlagSet) any {
			f := &imageFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` (default: the built-in default system)")
			fs.StringVar(&f.out, "o", "disk.img", "image `FILE` to write")
			fs.StringVar(&f.size, "size", "2G", "image `SIZE` (bytes, or with K, M, G)")
			return f
		},
		run: runImage,
	})
}

func runImage(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*imageFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	size, err := parseSize(f.size)
	if err != nil {
		return usageErrorf("--size: %v", err)
	}
	b, err := buildSystem(ctx, r, f.config, false)
	if err != nil {
		return err
	}
	out := r.Path(f.out)
	if err := writeImage(ctx, r, b, out, size); err != nil {
		return err
	}
	r.Printf("%s\n", out)
	return nil
}

// writeImage stages the closure of the toplevel into a root tree and the
// boot loader files into an ESP, then writes the disk image.
func writeImage(ctx context.Context, r *Run, b *built, out string, size int64) error {
	start := time.Now()
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".kiln-image-")
	if err != nil {
		return fmt.Errorf("stage image: %w", err)
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	espFiles, err := stageImage(b.st, b.res.Toplevel, root, filepath.Join(tmp, "esp"), b.cfg.System.Bootloader.Timeout, b.cfg.System.Bootloader.ConsoleMode, b.cfg.System.Bootloader.Editor)
	if err != nil {
		return err
	}
	m, err := image.Plan(image.Layout{Size: size, Seed: b.res.Toplevel.Hash(), ESP: espFiles, RootDir: root})
	if err != nil {
		return fmt.Errorf("plan image: %w", err)
	}
	bar := newBar(r, "image")
	err = image.Write(ctx, out, m, func(done, total int64) { bar.set(done, total, "") })
	bar.done()
	if err != nil {
		return err
	}
	r.Logf("image %s written in %s", out, time.Since(start).Round(time.Millisecond))
	return nil
}

// stageImage makes root (the ext4 root tree: the toplevel's closure under
// kiln/store, hard-linked from the store, their validity records under
// kiln/var/db, the system profile and the empty top-level directories)
// and returns the ESP files (ESP path → host file),
// generated ones written under espDir.
func stageImage(st *store.Store, top store.Path, root, espDir string, timeout int, consoleMode string, editor bool) (map[string]string, error) {
	closure, err := st.Closure(top)
	if err != nil {
		return nil, fmt.Errorf("closure of %s: %w", top, err)
	}
	storeDir := filepath.Join(root, "kiln", "store")
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		return nil, err
	}
	for _, p := range closure {
		if err := linkTree(st.Physical(p), filepath.Join(storeDir, p.Base())); err != nil {
			return nil, fmt.Errorf("stage %s: %w", p, err)
		}
	}
	// The closure's validity records: without them the machine's store
	// holds nothing valid (kiln store missing asks for every path, and
	// switch, rollback and gc cannot read a generation's closure).
	if err := st.ExportRecords(filepath.Join(root, "kiln", "var"), closure...); err != nil {
		return nil, err
	}
	if err := store.WriteProfileLinks(filepath.Join(root, "kiln", "var", "profiles"), "system", 1, top); err != nil {
		return nil, err
	}
	for _, d := range []string{"etc", "proc", "sys", "dev", "run", "tmp", "var", "root", "home", "mnt", "boot"} {
		mode := os.FileMode(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if d == "root" {
			mode = 0o700
		}
		if err := os.Mkdir(filepath.Join(root, d), mode); err != nil {
			return nil, err
		}
		if err := os.Chmod(filepath.Join(root, d), mode); err != nil {
			return nil, err
		}
	}
	bs, err := boot.ReadBootspec(filepath.Join(st.Physical(top), "boot.json"))
	if err != nil {
		return nil, err
	}
	cfg := boot.LoaderConfig{Timeout: timeout, ConsoleMode: consoleMode, Editor: editor, MaxGenerations: 0}
	for _, p := range closure {
		if strings.HasPrefix(p.Name(), "systemd-boot-efi-") {
			cfg.SystemdBoot = p.String() + "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
		}
	}
	if cfg.SystemdBoot == "" {
		return nil, fmt.Errorf("systemd-boot-efi is not in the closure of %s: add it to packages", top)
	}
	plan, err := boot.PlanESP([]boot.Generation{boot.GenerationFromBootspec(1, bs, time.Unix(1, 0))}, 1, cfg, nil)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for p, f := range plan.Files {
		if f.Source != "" {
			sp, err := store.ParsePath(storeRoot(f.Source))
			if err != nil {
				return nil, fmt.Errorf("esp %s: %w", p, err)
			}
			files[p] = filepath.Join(st.Physical(sp), strings.TrimPrefix(f.Source, sp.String()))
			continue
		}
		host := filepath.Join(espDir, filepath.FromSlash(p))
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

// storeRoot returns the store path prefix of a logical path.
func storeRoot(logical string) string {
	rest := strings.TrimPrefix(logical, store.LogicalDir+"/")
	base, _, _ := strings.Cut(rest, "/")
	return store.LogicalDir + "/" + base
}

// linkTree recreates src at dst: directories made, files hard-linked
// (same file system), symlinks copied.
func linkTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		t := filepath.Join(dst, strings.TrimPrefix(p, src))
		switch {
		case fi.IsDir():
			return os.Mkdir(t, 0o755)
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, t)
		default:
			if err := os.Link(p, t); err == nil {
				return nil
			}
			return copyFile(p, t, fi.Mode().Perm())
		}
	})
}

// parseSize parses 2G, 512M, 1048576.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional K, M or G", s)
	}
	return n * mult, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}
