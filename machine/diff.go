package machine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// PackageChange is a Debian package added (From empty), removed (To
// empty) or changed between two toplevels.
type PackageChange struct {
	Name string `json:"name"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Diff is what moving from one toplevel to another changes, read from
// their closures in the store: nothing is downloaded.
type Diff struct {
	From    store.Path      `json:"from"`
	To      store.Path      `json:"to"`
	Added   []PackageChange `json:"added"`
	Removed []PackageChange `json:"removed"`
	Changed []PackageChange `json:"changed"`
	// CopyPaths and CopyBytes are the paths of To's closure From's lacks
	// and their NAR size: what a switch from From copies.
	CopyPaths int   `json:"copy_paths"`
	CopyBytes int64 `json:"copy_bytes"`
	// Reboot lists why the new generation needs a reboot to take full
	// effect (empty: none).
	Reboot []string `json:"reboot"`
	// ESP is the machine's ESP after installing To (nil: not computed).
	ESP *ESPUse `json:"esp,omitempty"`
}

// rebootPackages are packages a running system keeps using until it
// reboots, with why.
var rebootPackages = map[string]string{
	"systemd": "systemd (PID 1 keeps running the old one)",
	"dbus":    "dbus (the bus daemon is not restarted)",
	"libc6":   "libc (every running program keeps the old one)",
}

// DiffToplevels compares two toplevels valid in st.
func DiffToplevels(st *store.Store, from, to store.Path) (*Diff, error) {
	fc, err := st.Closure(from)
	if err != nil {
		return nil, err
	}
	tc, err := st.Closure(to)
	if err != nil {
		return nil, err
	}
	d := &Diff{From: from, To: to, Added: []PackageChange{}, Removed: []PackageChange{}, Changed: []PackageChange{}, Reboot: []string{}}
	have := map[store.Path]bool{}
	for _, p := range fc {
		have[p] = true
	}
	for _, p := range tc {
		if !have[p] {
			d.CopyPaths++
			if info, err := st.Info(p); err == nil {
				d.CopyBytes += info.NarSize
			}
		}
	}
	fp, tp := packagesOf(fc), packagesOf(tc)
	for _, name := range sortedKeys(tp) {
		switch old, ok := fp[name]; {
		case !ok:
			d.Added = append(d.Added, PackageChange{Name: name, To: tp[name]})
		case old != tp[name]:
			d.Changed = append(d.Changed, PackageChange{Name: name, From: old, To: tp[name]})
		}
	}
	for _, name := range sortedKeys(fp) {
		if _, ok := tp[name]; !ok {
			d.Removed = append(d.Removed, PackageChange{Name: name, From: fp[name]})
		}
	}
	fb, ferr := toplevel.ReadBootspec(filepath.Join(st.Physical(from), toplevel.BootspecFile))
	tb, terr := toplevel.ReadBootspec(filepath.Join(st.Physical(to), toplevel.BootspecFile))
	if ferr == nil && terr == nil {
		if fb.Kernel != tb.Kernel {
			d.Reboot = append(d.Reboot, "the kernel changed")
		}
		if fb.Initrd != tb.Initrd {
			d.Reboot = append(d.Reboot, "the initrd changed")
		}
		if strings.Join(fb.KernelParams, " ") != strings.Join(tb.KernelParams, " ") {
			d.Reboot = append(d.Reboot, "the kernel parameters changed")
		}
	}
	for _, c := range d.Changed {
		if why, ok := rebootPackages[c.Name]; ok {
			d.Reboot = append(d.Reboot, why+" changed: "+c.From+" → "+c.To)
		}
	}
	return d, nil
}

// packagesOf reads Debian packages (name → version) from the store
// names of a closure's package paths: NAME-VERSION, where the version
// starts with a digit and has at most one '-' (its Debian revision). A
// name with a version whose upstream part has a '-' is read with the
// split that leaves one '-', which is right for Debian's packages
// (linux-image-6.1.0-56-cloud-amd64-6.1.153-1). kiln's own parts (kiln-,
// initrd-, kernel-modules-…) and documentation outputs are left out.
func packagesOf(closure []store.Path) map[string]string {
	out := map[string]string{}
	for _, p := range closure {
		n := p.Name()
		if strings.HasPrefix(n, "kiln") || strings.HasSuffix(n, "-doc") {
			continue
		}
		if name, ver, ok := splitNameVersion(n); ok {
			out[name] = ver
		}
	}
	return out
}

func splitNameVersion(n string) (name, version string, ok bool) {
	best := -1
	for i := 1; i+1 < len(n); i++ {
		if n[i] != '-' || n[i+1] < '0' || n[i+1] > '9' {
			continue
		}
		switch strings.Count(n[i+1:], "-") {
		case 1:
			return n[:i], n[i+1:], true
		case 0:
			if best < 0 {
				best = i
			}
		}
	}
	if best < 0 {
		return "", "", false
	}
	return n[:best], n[best+1:], true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// String prints the diff for people.
func (d *Diff) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "from %s\nto   %s\n", d.From, d.To)
	section := func(title string, cs []PackageChange, f func(PackageChange) string) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s (%d):\n", title, len(cs))
		for _, c := range cs {
			fmt.Fprintf(&b, "  %s\n", f(c))
		}
	}
	section("packages added", d.Added, func(c PackageChange) string { return c.Name + " " + c.To })
	section("packages removed", d.Removed, func(c PackageChange) string { return c.Name + " " + c.From })
	section("packages changed", d.Changed, func(c PackageChange) string { return c.Name + " " + c.From + " → " + c.To })
	if len(d.Added)+len(d.Removed)+len(d.Changed) == 0 {
		b.WriteString("packages: no change\n")
	}
	fmt.Fprintf(&b, "to copy: %d paths, %s\n", d.CopyPaths, humanBytes(d.CopyBytes))
	if e := d.ESP; e != nil {
		verdict := "fits"
		if !e.Fits {
			verdict = "DOES NOT FIT: a switch would be refused"
		}
		fmt.Fprintf(&b, "ESP: %s used of %s now, %s after installing (%s written): %s\n",
			humanBytes(e.Used), humanBytes(e.Size), humanBytes(e.After), humanBytes(e.Write), verdict)
	}
	if len(d.Reboot) == 0 {
		b.WriteString("reboot: not needed\n")
	} else {
		b.WriteString("reboot needed:\n")
		for _, r := range d.Reboot {
			fmt.Fprintf(&b, "  %s\n", r)
		}
	}
	return b.String()
}

// JSON is the diff as indented JSON.
func (d *Diff) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(struct {
		Version int `json:"version"`
		*Diff
	}{1, d}, "", "  ")
	return append(b, '\n'), err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// ESPUse is the ESP before and after installing a generation.
type ESPUse struct {
	Size  int64 `json:"size"`  // the file system's size
	Used  int64 `json:"used"`  // used now
	After int64 `json:"after"` // used once the generation's entries are installed
	Write int64 `json:"write"` // bytes written (kernels, initrds, entries)
	Fits  bool  `json:"fits"`
}

// PlanESPUse computes what installing top as the new current generation
// would leave on the machine's ESP, changing nothing: the files the ESP
// plan writes and deletes, each rounded up to 4 KiB clusters.
func (m *Machine) PlanESPUse(top store.Path) (*ESPUse, error) {
	gens, cur, err := boot.ProfileGenerations(m.Store, Profile)
	if err != nil {
		return nil, err
	}
	n, found := 0, false
	for _, g := range gens {
		n = max(n, g.N)
		if g.Toplevel == top.String() {
			cur, found = g.N, true
		}
	}
	if !found {
		g, err := boot.ReadGeneration(m.Store, n+1, top, time.Now())
		if err != nil {
			return nil, err
		}
		gens, cur = append(gens, g), n+1
	}
	var def boot.Generation
	for _, g := range gens {
		if g.N == cur {
			def = g
		}
	}
	settings, err := m.LoaderOf(def)
	if err != nil {
		return nil, err
	}
	cfg := boot.LoaderConfigOf(settings)
	if efi, err := boot.FindSystemdBoot(m.Store, top); err == nil {
		cfg.SystemdBoot = efi
	}
	esp := m.ESP()
	plan, err := boot.PlanESP(gens, cur, cfg, os.DirFS(esp))
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(esp, &st); err != nil {
		return nil, fmt.Errorf("statfs esp %s: %w", esp, err)
	}
	u := &ESPUse{Size: int64(st.Blocks) * int64(st.Bsize), Used: int64(st.Blocks-st.Bfree) * int64(st.Bsize)}
	cluster := func(n int64) int64 { return (n + 4095) &^ 4095 }
	onESP := func(name string) int64 {
		if fi, err := os.Stat(filepath.Join(esp, filepath.FromSlash(name))); err == nil {
			return cluster(fi.Size())
		}
		return 0
	}
	u.After = u.Used
	for _, name := range plan.Delete {
		u.After -= onESP(name)
	}
	for name, f := range plan.Files {
		if f.Keep {
			continue
		}
		size := int64(len(f.Data))
		if f.Source != "" {
			fi, err := os.Stat(m.Store.PhysicalPath(f.Source))
			if err != nil {
				return nil, err
			}
			size = fi.Size()
		}
		u.Write += cluster(size)
		u.After += cluster(size) - onESP(name)
	}
	u.Fits = u.After <= u.Size
	return u, nil
}
