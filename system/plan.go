package system

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// Part names: the store paths a system is made of.
const (
	PartKiln          = "kiln"
	PartKernel        = "kernel"
	PartKernelModules = "kernel-modules"
	PartInitrd        = "initrd"
	PartHwdb          = "hwdb"
	PartCatalog       = "journal-catalog"
	PartSw            = "sw"
	PartEtc           = "etc"
	PartToplevel      = "toplevel"
)

// Builder versions, part of every key: bump one when its output changes
// for equal inputs.
const (
	swBuilder       = "sw/5"
	etcBuilder      = "etc/2"
	kmodBuilder     = "kernel-modules/3"
	kernelBuilder   = "kernel/1"
	initrdBuilder   = "initrd/1"
	hwdbBuilder     = "hwdb/1"
	catalogBuilder  = "journal-catalog/1"
	toplevelBuilder = "toplevel/3"
)

// PlanOptions say what goes into every system besides its configuration.
type PlanOptions struct {
	// KilnBinary is the host path of the static kiln binary (the CLI
	// passes os.Executable()). It becomes stage 1, stage 2 and bin/kiln.
	KilnBinary string
	// Version is kiln's version, written as kiln-version.
	Version string
	// ScriptCache is a directory where the analysis of the packages'
	// maintainer scripts is kept between builds ("": none).
	ScriptCache string
}

// Event reports one part of a build.
type Event struct {
	Part   string
	Path   store.Path
	Reused bool // valid already: nothing was done
	Err    error
}

// BuildPlan is everything a build will make, computed without writing:
// each part's store path from the hashes of its inputs. It prints as text.
type BuildPlan struct {
	Parts      map[string]store.Path
	Kernel     kernelInfo
	KernelPath store.Path // the kernel package
	Systemd    store.Path // the systemd package
	Params     []string   // kernel command line (without init=)
	Label      string

	sys        *modules.System
	pk         Packages
	opts       PlanOptions
	kilnSum    string
	initrdMods []string
	etc        []EtcEntry // final layered entries
	alts       []alternative
	scripts    *scriptDecls // what the maintainer scripts declare
	warnings   []Warning
	acc        *accounts
	wrappers   []plannedWrapper // setuid and setgid programs (wrappers.go)
	docs       []docOutput      // documentation outputs in sw (documentation.enable)
	spec       []byte           // activation.json
	bootspec   []byte           // boot.json
	pkgPaths   []store.Path
	usr        []usrFile    // files the scripts make under /usr (PartScripts)
	locales    []localeSpec // compiled into PartLocales
}

// String lists the parts and their store paths, one per line, sorted.
func (p *BuildPlan) String() string {
	var b strings.Builder
	names := orderedKeys(p.Parts)
	for _, n := range names {
		fmt.Fprintf(&b, "%-15s %s\n", n, p.Parts[n])
	}
	return b.String()
}

// WantedPackages lists the package names a configuration needs locked:
// packages, the packages referenced through pkgs.X, and the kernel.
func WantedPackages(sys *modules.System) []string {
	var out []string
	out = appendUnique(out, sys.Packages...)
	out = appendUnique(out, sys.Referenced...)
	if sys.Kernel.Package != "" {
		out = appendUnique(out, sys.Kernel.Package)
	}
	sort.Strings(out)
	return out
}

// PlanBuild computes the store paths of a system's parts. It reads the
// packages (their etc trees, sysusers, PAM profiles...) but writes
// nothing.
func PlanBuild(sys *modules.System, pk Packages, opts PlanOptions) (*BuildPlan, error) {
	if opts.KilnBinary == "" {
		return nil, fmt.Errorf("plan: no kiln binary given")
	}
	if opts.Version == "" {
		opts.Version = "0"
	}
	p := &BuildPlan{sys: sys, pk: pk, opts: opts, Parts: map[string]store.Path{}}
	for _, n := range pk.Names() {
		sp, _ := pk.Path(n)
		p.pkgPaths = append(p.pkgPaths, sp)
	}
	sum, err := kilnBinarySum(opts.KilnBinary, opts.ScriptCache)
	if err != nil {
		return nil, fmt.Errorf("plan: kiln binary: %w", err)
	}
	p.kilnSum = sum
	if p.Parts[PartKiln], err = store.FixedPath("kiln", sum, "kiln-"+opts.Version); err != nil {
		return nil, fmt.Errorf("plan: kiln: %w", err)
	}
	if err := p.planKernel(); err != nil {
		return nil, err
	}
	if p.scripts, err = analyzeScriptsCached(sys, pk, opts.ScriptCache, sum); err != nil {
		return nil, err
	}
	if err := checkUnhandled(sys, p.scripts); err != nil {
		return nil, err
	}
	if p.acc, err = planAccounts(sys, pk, p.scripts); err != nil {
		return nil, err
	}
	if p.alts, err = p.scripts.alternatives(sys, pk); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if err := p.planWrappers(); err != nil {
		return nil, err
	}
	if sys.Documentation.Enable {
		if p.docs, err = docOutputs(pk); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
	}
	if err := p.planUsrFiles(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	gen, err := p.localeGen()
	if err != nil {
		return nil, fmt.Errorf("plan: /etc/locale.gen: %w", err)
	}
	if err := p.planLocales(gen); err != nil {
		return nil, err
	}
	if err := p.planGlibSchemas(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	k := p.allPackagesKey(swBuilder).AddPath("kernel-modules", p.Parts[PartKernelModules]).AddPath("kiln", p.Parts[PartKiln])
	if us, ok := p.Parts[PartScripts]; ok {
		k.AddPath("package-scripts", us)
	}
	if lc, ok := p.Parts[PartLocales]; ok {
		k.AddPath("locales", lc)
	}
	if gs, ok := p.Parts[PartGlibSchemas]; ok {
		k.AddPath("glib-schemas", gs)
	}
	for _, d := range p.docs {
		k.AddPath("doc", d.path)
	}
	for _, a := range p.alts {
		k.Add("alternative", a.Link+"="+a.Name)
	}
	for _, w := range p.wrappers {
		k.Add("wrapper", w.pkg+"/"+w.rel+"="+w.Name)
	}
	if p.Parts[PartSw], err = k.Path("sw"); err != nil {
		return nil, err
	}
	if _, _, ok := find(pk, "usr/bin/systemd-hwdb"); ok {
		if p.Parts[PartHwdb], err = p.allPackagesKey(hwdbBuilder).Path("hwdb"); err != nil {
			return nil, err
		}
	}
	if _, _, ok := find(pk, "usr/bin/journalctl"); ok && p.scripts.declaresCache("journal-catalog") {
		if p.Parts[PartCatalog], err = p.allPackagesKey(catalogBuilder).Path("journal-catalog"); err != nil {
			return nil, err
		}
	}
	if err := p.planEtc(); err != nil {
		return nil, err
	}
	if err := p.planActivation(); err != nil {
		return nil, err
	}
	return p, p.planToplevel()
}

func (p *BuildPlan) allPackagesKey(builder string) *store.Key {
	k := store.NewKey(builder)
	for _, sp := range p.pkgPaths {
		k.AddPath("package", sp)
	}
	return k
}

func (p *BuildPlan) planKernel() error {
	k, err := findKernel(p.pk, p.sys.Kernel.Package)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	p.Kernel = k
	p.KernelPath, _ = p.pk.Path(k.Package)
	// The module tree is the kernel package's, indexed by the locked
	// depmod: nothing else goes in, so an unrelated package does not make
	// a new tree (nor a new initrd to copy to the ESP and over SSH).
	mk := store.NewKey(kmodBuilder).Add("kernel", k.Package).AddPath("kernel-package", p.KernelPath)
	if kmod, _, ok := find(p.pk, "usr/bin/kmod"); ok {
		kp, _ := p.pk.Path(kmod)
		mk.AddPath("kmod", kp)
	}
	if p.Parts[PartKernelModules], err = mk.Path("kernel-modules-" + k.Version); err != nil {
		return err
	}
	if p.Parts[PartKernel], err = store.NewKey(kernelBuilder).AddPath("package", p.KernelPath).Add("file", k.Vmlinuz).Path("vmlinuz-" + k.Version); err != nil {
		return err
	}
	p.initrdMods = append([]string{}, p.sys.Kernel.InitrdModules...)
	ik := store.NewKey(initrdBuilder).
		AddPath("kernel", p.KernelPath).
		AddPath("kernel-modules", p.Parts[PartKernelModules]).
		AddPath("kiln", p.Parts[PartKiln]).
		Add("root", rootSpec)
	for _, m := range p.initrdMods {
		ik.Add("module", m)
	}
	p.Parts[PartInitrd], err = ik.Path("initrd-" + k.Version)
	return err
}

// planEtc layers the etc entries: package conffiles < what maintainer
// scripts would have generated < the configuration's (GenerateEtc, whose
// last entries are the user's `etc`).
func (p *BuildPlan) planEtc() error {
	pkgEtc, err := packageEtc(p.pk)
	if err != nil {
		return fmt.Errorf("plan etc: %w", err)
	}
	derived, err := derivedEtc(p.pk, p.alts, p.scripts)
	if err != nil {
		return fmt.Errorf("plan etc: %w", err)
	}
	tmpf, err := varTmpfilesExcept(p.pk, p.scripts.shippedTmpfiles())
	if err != nil {
		return fmt.Errorf("plan etc: %w", err)
	}
	if tmpf != nil {
		derived = append(derived, EtcEntry{Path: "tmpfiles.d/kiln-var.conf", Data: tmpf, Kind: toplevel.EtcLink})
	}
	if hw, ok := p.Parts[PartHwdb]; ok {
		derived = append(derived, EtcEntry{Path: "udev/hwdb.bin", Target: hw.String() + "/hwdb.bin", Kind: toplevel.EtcLink})
	}
	if jc, ok := p.Parts[PartCatalog]; ok {
		// journalctl reads the catalog only from /var.
		derived = append(derived, EtcEntry{Path: "tmpfiles.d/kiln-journal-catalog.conf", Kind: toplevel.EtcLink,
			Data: []byte("L+ /var/lib/systemd/catalog/database - - - - " + jc.String() + "/database\n")})
	}
	gen, err := generateEtc(p.sys, p.pk, p.scripts)
	if err != nil {
		return fmt.Errorf("plan etc: %w", err)
	}
	scriptEtc, warnings := p.scripts.etcFiles(p.pk)
	p.warnings = append(p.warnings, warnings...)
	p.warnings = append(p.warnings, p.scripts.cacheWarnings(p.pk)...)
	if p.scripts.declaresCache("ldconfig") {
		p.warnings = append(p.warnings, ldconfigWarning(p.pk)...)
	}
	final, err := layerEtc(pkgEtc, scriptEtc, derived, gen)
	if err != nil {
		return fmt.Errorf("plan etc: %w", err)
	}
	if final, err = p.cacheEtc(final); err != nil {
		return fmt.Errorf("plan etc: %w", err)
	}
	if final, err = p.scriptTmpfiles(final); err != nil {
		return fmt.Errorf("plan etc: %w", err)
	}
	p.etc = final
	k := store.NewKey(etcBuilder)
	for _, sp := range p.pkgPaths {
		k.AddPath("package", sp)
	}
	if hw, ok := p.Parts[PartHwdb]; ok {
		k.AddPath("hwdb", hw)
	}
	for _, e := range final {
		d, err := entryDigest(e)
		if err != nil {
			return fmt.Errorf("plan etc: %s: %w", e.Path, err)
		}
		k.Add("entry", d)
	}
	p.Parts[PartEtc], err = k.Path("etc")
	return err
}

// layerEtc merges layers, a later entry replacing an earlier one with the
// same path. A file where another entry needs a directory is an error.
func layerEtc(layers ...[]EtcEntry) ([]EtcEntry, error) {
	byPath := map[string]EtcEntry{}
	for _, l := range layers {
		for _, e := range l {
			if e.Kind == "" {
				e.Kind = toplevel.EtcLink
			}
			if err := validEtcEntry(e); err != nil {
				return nil, err
			}
			byPath[e.Path] = e
		}
	}
	out := make([]EtcEntry, 0, len(byPath))
	for _, n := range orderedKeys(byPath) {
		out = append(out, byPath[n])
	}
	for _, e := range out {
		for d := path.Dir(e.Path); d != "."; d = path.Dir(d) {
			if _, ok := byPath[d]; ok {
				return nil, fmt.Errorf("etc %q is a file, but %q needs it to be a directory", d, e.Path)
			}
		}
	}
	return out, nil
}

func validEtcEntry(e EtcEntry) error {
	if e.Path == "" || path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || strings.HasPrefix(e.Path, "../") || e.Path == "static" || strings.HasPrefix(e.Path, "static/") {
		return fmt.Errorf("etc %q: want a clean relative path outside static/", e.Path)
	}
	n := 0
	for _, set := range []bool{e.Data != nil, e.Source != "", e.Target != ""} {
		if set {
			n++
		}
	}
	if n > 1 || (n == 0 && e.Kind != toplevel.EtcCopy && e.Kind != toplevel.EtcLink) {
		return fmt.Errorf("etc %q: want exactly one of data, source or target", e.Path)
	}
	switch e.Kind {
	case toplevel.EtcLink, toplevel.EtcCopy:
	case toplevel.EtcSymlink:
		if e.Target == "" {
			return fmt.Errorf("etc %q: symlink without target", e.Path)
		}
	default:
		return fmt.Errorf("etc %q: unknown kind %q", e.Path, e.Kind)
	}
	return nil
}

// entryDigest identifies an entry's content for the etc key: sources are
// hashed (they may be the user's files), store targets are named.
func entryDigest(e EtcEntry) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%o\x00%s\x00%s\x00%s\x00", e.Path, e.Kind, e.Mode, e.User, e.Group, e.Target)
	switch {
	case e.Source != "":
		// A pipe or /dev/zero is refused, not read forever.
		f, size, err := fsutil.OpenRegular(e.Source)
		if err != nil {
			return "", fmt.Errorf("etc %q: source: %w", e.Path, err)
		}
		defer f.Close()
		h.Write([]byte("source\x00"))
		if _, err := fsutil.CopyRegular(h, f, e.Source, size); err != nil {
			return "", fmt.Errorf("etc %q: source: %w", e.Path, err)
		}
	case e.Data != nil:
		h.Write([]byte("data\x00"))
		h.Write(e.Data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (p *BuildPlan) planActivation() error {
	spec := toplevel.ActivationSpec{Version: toplevel.ActivationVersion, HostName: p.sys.Networking.HostName}
	spec.Users, spec.Groups = p.acc.spec()
	for _, e := range p.etc {
		se := toplevel.EtcEntry{Path: e.Path, Kind: e.Kind}
		switch e.Kind {
		case toplevel.EtcCopy:
			m := e.Mode.Perm()
			if m == 0 {
				m = 0o644
			}
			se.Mode = fmt.Sprintf("%04o", uint32(m)|specialOctal(e.Mode))
			se.User, se.Group = orRoot(e.User), orRoot(e.Group)
		case toplevel.EtcSymlink:
			se.Target = e.Target
		}
		spec.Etc = append(spec.Etc, se)
	}
	for _, w := range p.wrappers {
		spec.Wrappers = append(spec.Wrappers, w.Wrapper)
	}
	spec.Persist = planPersist(p.sys)
	var err error
	if spec.Secrets, err = planSecrets(p.sys); err != nil {
		return fmt.Errorf("plan activation: %w", err)
	}
	b, err := spec.Encode()
	if err != nil {
		return fmt.Errorf("plan activation: %w", err)
	}
	p.spec = b
	return nil
}

// planAccounts layers the users and groups: the packages' sysusers.d
// files, what their maintainer scripts create, the configuration.
func planAccounts(sys *modules.System, pk Packages, scripts *scriptDecls) (*accounts, error) {
	acc, err := packageAccounts(pk)
	if err != nil {
		return nil, fmt.Errorf("plan users: %w", err)
	}
	acc.applyScripts(scripts)
	if err := acc.applyConfig(sys); err != nil {
		return nil, fmt.Errorf("plan users: %w", err)
	}
	if err := acc.checkServiceUsers(sys); err != nil {
		return nil, fmt.Errorf("plan users: %w", err)
	}
	if err := acc.checkReferences(sys); err != nil {
		return nil, fmt.Errorf("plan users: %w", err)
	}
	return acc, nil
}

// scriptTmpfiles adds tmpfiles.d/kiln-packages.conf, the scripts' lines
// for /var, /run, /srv and /etc directories, and turns the /etc files
// they chmod or chown into copies with that mode and owner. The file
// sorts before kiln-var.conf, so its owners win over the bare
// directories of the packages' var trees.
func (p *BuildPlan) scriptTmpfiles(etc []EtcEntry) ([]EtcEntry, error) {
	files := map[string]bool{}
	for _, e := range etc {
		if e.Kind != toplevel.EtcSymlink {
			files[e.Path] = true
		}
	}
	text, copies, err := p.scripts.tmpfiles(p.pk, p.acc, files)
	if err != nil {
		return nil, err
	}
	for i, e := range etc {
		t, ok := copies[e.Path]
		if !ok {
			continue
		}
		e.Kind = toplevel.EtcCopy
		if t.Mode != "" && t.Mode != "-" {
			om, err := tmpfilesMode(t.Mode, false)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.From[0], err)
			}
			m, err := strconv.ParseUint(strings.TrimLeft(om, "~:"), 8, 32)
			if err != nil {
				return nil, fmt.Errorf("%s: mode %q: %w", t.From[0], t.Mode, err)
			}
			e.Mode = fs.FileMode(m&0o777) | specialBits(m)
		} else if e.Mode == 0 {
			e.Mode = 0o644
		}
		if u := field(t.User); u != "-" {
			e.User = u
		}
		if g := field(t.Group); g != "-" {
			e.Group = g
		}
		etc[i] = e
	}
	if text == nil {
		return etc, nil
	}
	return layerEtc(etc, []EtcEntry{{Path: "tmpfiles.d/kiln-packages.conf", Data: text, Kind: toplevel.EtcLink}})
}

func specialOctal(m os.FileMode) uint32 {
	var v uint32
	if m&os.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

func orRoot(s string) string {
	if s == "" {
		return "root"
	}
	return s
}

// baseKernelParams come first on every kernel command line.
var baseKernelParams = []string{"root=" + rootSpec, "rootfstype=ext4", "rw"}

func (p *BuildPlan) planToplevel() error {
	p.Params = append(append([]string{}, baseKernelParams...), p.sys.Kernel.Params...)
	if im := p.sys.Impermanence; im.Enable {
		p.Params = append(p.Params, toplevel.PersistParam+"="+im.Path)
	}
	p.Label = fmt.Sprintf("kiln %s (Linux %s)", p.opts.Version, p.Kernel.Version)
	sp, _ := p.pk.Path("systemd")
	p.Systemd = sp
	h := sha256.Sum256(p.spec)
	loader := loaderOf(p.sys)
	k := store.NewKey(toplevelBuilder).
		Add("version", p.opts.Version).
		Add("activation", hex.EncodeToString(h[:])).
		Add("params", strings.Join(p.Params, " ")).
		Add("loader", fmt.Sprintf("%+v", loader)).
		AddPath("systemd", p.Systemd)
	for _, n := range orderedKeys(p.Parts) {
		k.AddPath(n, p.Parts[n])
	}
	name := "kiln-system"
	if hn := p.sys.Networking.HostName; hn != "" && store.ValidateName(name+"-"+hn) == nil {
		name += "-" + hn
	}
	top, err := k.Path(name)
	if err != nil {
		return fmt.Errorf("plan toplevel: %w", err)
	}
	p.Parts[PartToplevel] = top
	bs := toplevel.Bootspec{
		Version: toplevel.BootspecVersion, Label: p.Label, Toplevel: top.String(), Init: top.String() + "/init",
		Kernel: p.Parts[PartKernel].String(), Initrd: p.Parts[PartInitrd].String(),
		KernelParams: p.Params, KilnVersion: p.opts.Version, Loader: &loader,
	}
	if p.bootspec, err = bs.Marshal(); err != nil {
		return err
	}
	return nil
}

// loaderOf is the bootspec's record of the bootloader options.
func loaderOf(sys *modules.System) toplevel.Loader {
	bl := sys.Bootloader
	return toplevel.Loader{Timeout: bl.Timeout, MaxGenerations: bl.MaxGenerations, ConsoleMode: bl.ConsoleMode, Editor: bl.Editor, BootCountingTries: bl.BootCounting.Tries}
}

// kilnBinarySum is the kiln binary's sha256, kept in dir ("" keeps
// nothing) by the binary's device, inode, size and modification time: a
// no-op rebuild does not read 25 MB again, and a new binary (installed by
// rename or rewritten) has another key.
func kilnBinarySum(bin, dir string) (string, error) {
	var file string
	if st, err := os.Stat(bin); err == nil && dir != "" {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			file = filepath.Join(dir, fmt.Sprintf("kiln-binary-%d-%d-%d-%d", sys.Dev, sys.Ino, st.Size(), st.ModTime().UnixNano()))
			if b, err := os.ReadFile(file); err == nil && len(b) == 64 {
				return string(b), nil
			}
		}
	}
	sum, err := fsutil.SHA256(bin)
	if err != nil || file == "" {
		return sum, err
	}
	if os.MkdirAll(dir, 0o755) == nil {
		_ = fsutil.WriteFile(file, []byte(sum), 0o644) // a cache: a failed write costs time only
	}
	return sum, nil
}
