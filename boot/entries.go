package boot

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/lineformat"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// Generation is one bootable generation of the system profile.
type Generation struct {
	N        int
	Toplevel string   // logical store path
	Kernel   string   // logical path of the vmlinuz file
	Initrd   string   // logical path of the initrd file
	Params   []string // kernel parameters, without init=
	Label    string   // "kiln 0.1.0 (Linux 6.1.0-x)"
	Created  time.Time
	Loader   *toplevel.Loader // the boot loader settings of its bootspec (nil: none recorded)
}

// GenerationFromBootspec makes the Generation numbered n from a bootspec.
func GenerationFromBootspec(n int, b *toplevel.Bootspec, created time.Time) Generation {
	return Generation{N: n, Toplevel: b.Toplevel, Kernel: b.Kernel, Initrd: b.Initrd,
		Params: b.KernelParams, Label: b.Label, Created: created, Loader: b.Loader}
}

// LoaderConfig is systemd-boot's configuration.
type LoaderConfig struct {
	Timeout        int    // seconds the menu shows
	ConsoleMode    string // "keep", "auto", "max" or a number; "" leaves it out
	Editor         bool   // allow editing the kernel command line
	MaxGenerations int    // entries kept, newest first (the current one always); 0: all
	// Tries is the boot counter the current generation's entry starts
	// with when the ESP has none for it yet (counting.go); 0: off.
	Tries int
	// Count names the generation whose new entry is counted when it is
	// not the default one (a confirmed switch keeps the previous default
	// until it is confirmed); 0: the default one.
	Count int
	// SystemdBoot is the logical path of systemd-bootx64.efi, in the store
	// path of Debian's systemd-boot-efi (usr/lib/systemd/boot/efi/). Empty:
	// the boot loader files already on the ESP are left alone.
	SystemdBoot string
}

// ESPFile is what goes at one ESP path: a copy of a store file or
// generated content.
type ESPFile struct {
	Source string // logical path of the file to copy, or
	Data   []byte // generated content
	// Keep is set for content-addressed files (named by their store hash)
	// already on the ESP: they are not copied again.
	Keep bool
}

// ESPPlan is the complete kiln-owned content of an ESP. Files the plan does
// not name are left alone, except kiln's own (EFI/kiln/, the
// kiln-generation entries), which are listed in Delete when unreferenced.
type ESPPlan struct {
	Files  map[string]ESPFile // ESP-relative path, slash-separated
	Delete []string           // sorted
}

// ESP paths kiln writes.
const (
	LoaderConf    = "loader/loader.conf"
	EntriesSrel   = "loader/entries.srel"
	EntriesDir    = "loader/entries"
	KilnDir       = "EFI/kiln"
	FallbackEFI   = "EFI/BOOT/BOOTX64.EFI"
	SystemdBootPE = "EFI/systemd/systemd-bootx64.efi"
	entryPrefix   = "kiln-generation-"
)

// EntryName is the file name (and systemd-boot id) of generation n's entry.
func EntryName(n int) string { return entryPrefix + strconv.Itoa(n) + ".conf" }

// PlanESP computes the ESP content for gens, with current as the default
// entry. existing is the ESP as it is now (nil: empty, an image being
// written); it decides what to delete, which kernels and initrds are
// already there and each entry's boot counter: an entry on the ESP keeps
// its name (systemd-boot and systemd-bless-boot own the counter), and the
// current generation's new entry on a machine is counted when cfg.Tries
// is set. A generation never keeps a counted and an uncounted entry.
func PlanESP(gens []Generation, current int, cfg LoaderConfig, existing fs.FS) (ESPPlan, error) {
	kept, err := keptGenerations(gens, current, cfg.MaxGenerations)
	if err != nil {
		return ESPPlan{}, err
	}
	onESP, err := ReadEntries(existing)
	if err != nil {
		return ESPPlan{}, err
	}
	plan := ESPPlan{Files: map[string]ESPFile{}}
	var def Entry
	for _, g := range kept {
		kernel, err := espName(g.Kernel)
		if err != nil {
			return ESPPlan{}, fmt.Errorf("generation %d kernel: %w", g.N, err)
		}
		initrd, err := espName(g.Initrd)
		if err != nil {
			return ESPPlan{}, fmt.Errorf("generation %d initrd: %w", g.N, err)
		}
		plan.Files[kernel] = ESPFile{Source: g.Kernel, Keep: exists(existing, kernel)}
		plan.Files[initrd] = ESPFile{Source: g.Initrd, Keep: exists(existing, initrd)}
		e := entryFile(g, current, cfg, onESP, existing != nil)
		if g.N == current {
			def = e
		}
		entry, err := entryConf(g, "/"+kernel, "/"+initrd)
		if err != nil {
			return ESPPlan{}, fmt.Errorf("generation %d entry: %w", g.N, err)
		}
		plan.Files[EntriesDir+"/"+e.File] = ESPFile{Data: entry}
	}
	conf, err := loaderConf(cfg, defaultPattern(def))
	if err != nil {
		return ESPPlan{}, fmt.Errorf("loader.conf: %w", err)
	}
	plan.Files[LoaderConf] = ESPFile{Data: conf}
	plan.Files[EntriesSrel] = ESPFile{Data: []byte("type1\n")}
	if cfg.SystemdBoot != "" {
		plan.Files[FallbackEFI] = ESPFile{Source: cfg.SystemdBoot}
		plan.Files[SystemdBootPE] = ESPFile{Source: cfg.SystemdBoot}
	}
	plan.Delete, err = unreferenced(existing, plan.Files)
	if err != nil {
		return ESPPlan{}, err
	}
	return plan, nil
}

// keptGenerations validates gens and returns those that get an entry,
// newest first.
func keptGenerations(gens []Generation, current, max int) ([]Generation, error) {
	sorted := append([]Generation(nil), gens...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].N > sorted[j].N })
	cur := -1
	for i, g := range sorted {
		if g.N < 1 {
			return nil, fmt.Errorf("generation number %d: must be at least 1", g.N)
		}
		if i > 0 && sorted[i-1].N == g.N {
			return nil, fmt.Errorf("generation %d given twice", g.N)
		}
		if g.Toplevel == "" || g.Kernel == "" || g.Initrd == "" {
			return nil, fmt.Errorf("generation %d: toplevel, kernel and initrd are required", g.N)
		}
		if g.N == current {
			cur = i
		}
	}
	if cur < 0 {
		return nil, fmt.Errorf("current generation %d is not among the generations", current)
	}
	if max <= 0 || len(sorted) <= max {
		return sorted, nil
	}
	kept := sorted[:max:max]
	if cur >= max {
		kept = append(kept[:max-1], sorted[cur])
	}
	return kept, nil
}

// espName names a store file on the ESP by its store hash, so that equal
// kernels are copied once: /kiln/store/<hash>-linux-image-x/boot/vmlinuz-x →
// EFI/kiln/<hash>-vmlinuz-x; /kiln/store/<hash>-initrd → EFI/kiln/<hash>-initrd.
func espName(logical string) (string, error) {
	rest, ok := strings.CutPrefix(logical, store.LogicalDir+"/")
	if !ok {
		return "", fmt.Errorf("%q is not in %s", logical, store.LogicalDir)
	}
	top, sub, _ := strings.Cut(rest, "/")
	p, err := store.ParsePath(top)
	if err != nil {
		return "", err
	}
	base := p.Name()
	if sub != "" {
		base = path.Base(sub)
	}
	return KilnDir + "/" + p.Hash() + "-" + base, nil
}

// entryConf writes generation g's entry. Its values come from a bootspec
// read from the store, so they go through the entry grammar's writer: a
// kernel parameter with a line break cannot add a line.
func entryConf(g Generation, kernel, initrd string) ([]byte, error) {
	version := "Generation " + strconv.Itoa(g.N)
	if g.Label != "" {
		version += " " + g.Label
	}
	if !g.Created.IsZero() {
		version += ", built " + g.Created.UTC().Format("2006-01-02")
	}
	var l lineformat.Loader
	l.Set("title", "kiln", "")
	l.Set("sort-key", "kiln", "")
	l.Set("version", version, "label")
	l.Set("linux", kernel, "kernel")
	l.Set("initrd", initrd, "initrd")
	for _, p := range g.Params {
		if p == "" || strings.ContainsAny(p, lineBreaks) {
			return nil, fmt.Errorf("kernel.params: %q is not one kernel parameter", p)
		}
	}
	opts := append([]string{"init=" + strings.TrimSuffix(g.Toplevel, "/") + "/init"}, g.Params...)
	l.Set("options", strings.Join(opts, " "), "kernel.params")
	text, err := l.Text()
	return []byte(text), err
}

// lineBreaks end a line for systemd-boot (and NUL its file).
const lineBreaks = "\n\r\x00"

// ConsoleModes are the words loader.conf's console-mode takes besides a
// number.
var ConsoleModes = []string{"keep", "auto", "max"}

// loaderConf writes loader.conf with def as its default entry pattern.
func loaderConf(cfg LoaderConfig, def string) ([]byte, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("bootloader.timeout %d: must be 0 or more", cfg.Timeout)
	}
	if m := cfg.ConsoleMode; m != "" && !slices.Contains(ConsoleModes, m) {
		if _, err := strconv.ParseUint(m, 10, 16); err != nil {
			return nil, fmt.Errorf("bootloader.console_mode %q: want keep, auto, max or a mode number", m)
		}
	}
	var l lineformat.Loader
	l.Set("timeout", strconv.Itoa(cfg.Timeout), "bootloader.timeout")
	l.Set("default", def, "")
	if cfg.ConsoleMode != "" {
		l.Set("console-mode", cfg.ConsoleMode, "bootloader.console_mode")
	}
	editor := "no"
	if cfg.Editor {
		editor = "yes"
	}
	l.Set("editor", editor, "")
	text, err := l.Text()
	return []byte(text), err
}

func exists(fsys fs.FS, name string) bool {
	if fsys == nil {
		return false
	}
	fi, err := fs.Stat(fsys, name)
	return err == nil && fi.Mode().IsRegular()
}

// unreferenced lists kiln's files on the ESP that plan does not name:
// entries of dropped generations, their kernels and initrds, and temporary
// files a crash left behind.
func unreferenced(existing fs.FS, files map[string]ESPFile) ([]string, error) {
	if existing == nil {
		return nil, nil
	}
	var del []string
	for _, dir := range []string{EntriesDir, KilnDir, "loader", "EFI/BOOT", "EFI/systemd"} {
		ents, err := fs.ReadDir(existing, dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read esp %s: %w", dir, err)
		}
		for _, e := range ents {
			name := dir + "/" + e.Name()
			ours := fsutil.IsTemp(e.Name()) ||
				dir == KilnDir || dir == EntriesDir && strings.HasPrefix(e.Name(), entryPrefix)
			if _, wanted := files[name]; ours && !wanted && !e.IsDir() {
				del = append(del, name)
			}
		}
	}
	sort.Strings(del)
	return del, nil
}

// String prints the plan, one sorted line per file.
func (p ESPPlan) String() string {
	var b strings.Builder
	names := make([]string, 0, len(p.Files))
	for n := range p.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range p.Delete {
		fmt.Fprintf(&b, "delete %s\n", n)
	}
	for _, n := range names {
		f := p.Files[n]
		switch {
		case f.Keep:
			fmt.Fprintf(&b, "keep   %s\n", n)
		case f.Source != "":
			fmt.Fprintf(&b, "copy   %s <- %s\n", n, f.Source)
		default:
			fmt.Fprintf(&b, "write  %s (%d bytes)\n", n, len(f.Data))
		}
	}
	return b.String()
}
