package maintscript

import (
	"io/fs"
	"maps"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// facts answers file tests as a fresh install sees them: a path exists
// when the package or the closure ships it, or a script of this package or
// of one configured before it made it; /run/systemd/system exists (systemd
// runs). When the closure is known, nothing else exists, except under
// /proc, /sys and /dev, which the analysis cannot know.
type facts struct {
	own, closure fs.FS
	conffiles    map[string]bool
	*system
}

// system is what the scripts analyzed so far made on the fresh machine,
// shared by the packages of one AnalyzeAll.
type system struct {
	made   map[string]madePath
	users  map[string]bool
	groups map[string]bool
	// scriptUsers are the users scripts or sysusers.d files made (users
	// also holds base-passwd's).
	scriptUsers map[string]bool
	// packages are the names of the closure's packages (nil: unknown).
	packages map[string]bool
	// questions are the debconf questions the closure's templates files
	// define (nil: unknown).
	questions map[string]bool
	lstats    map[string]lstatResult
	dirs      map[string][]string
}

type madePath struct {
	kind   byte // 'd' directory, 'f' file, 'l' link, '-' removed
	target string
}

func newSystem() *system {
	return &system{made: map[string]madePath{}, users: map[string]bool{}, groups: map[string]bool{}, scriptUsers: map[string]bool{},
		lstats: map[string]lstatResult{}, dirs: map[string][]string{}}
}

// clone copies the state scripts change (the lookup caches are shared).
func (s *system) clone() *system {
	c := *s
	c.made = maps.Clone(s.made)
	c.users = maps.Clone(s.users)
	c.groups = maps.Clone(s.groups)
	c.scriptUsers = maps.Clone(s.scriptUsers)
	return &c
}

type lstatResult struct {
	fi  fs.FileInfo
	err error
}

// closureLstat is fs.Lstat of the closure, remembered: every package of
// an AnalyzeAll asks about the same few hundred paths.
func (s *system) closureLstat(fsys fs.FS, name string) (fs.FileInfo, error) {
	if r, ok := s.lstats[name]; ok {
		return r.fi, r.err
	}
	fi, err := fs.Lstat(fsys, name)
	s.lstats[name] = lstatResult{fi, err}
	return fi, err
}

// readDir lists a directory's names; the closure's are remembered.
func (fa *facts) readDir(fsys fs.FS, name string, closure bool) []string {
	if closure {
		if names, ok := fa.dirs[name]; ok {
			return names
		}
	}
	ents, _ := fs.ReadDir(fsys, name)
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if closure {
		fa.dirs[name] = names
	}
	return names
}

func (s *system) make(p string, kind byte) {
	p = path.Clean(p)
	if _, ok := s.made[p]; !ok || kind != 'd' {
		s.made[p] = madePath{kind: kind}
	}
}

func (s *system) makeLink(p, target string) {
	s.made[path.Clean(p)] = madePath{kind: 'l', target: target}
}

// madeHere reports whether a script made p (a path or, for accounts, a
// user name: scripts' accounts are kept apart from base-passwd's).
func (s *system) madeHere(p string) bool {
	if s.scriptUsers[p] {
		return true
	}
	_, ok := s.made[path.Clean(p)]
	return ok
}

func newFacts(own, closure fs.FS, conffiles []byte, sys *system) *facts {
	fa := &facts{own: own, closure: closure, conffiles: map[string]bool{}, system: sys}
	for _, l := range strings.Split(string(conffiles), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "/") {
			fa.conffiles[f[len(f)-1]] = true
		}
	}
	return fa
}

// kind is what p is: 'd', 'f', 'x' (executable file), 'l' (link, with
// its target) or 0 when nothing is known of it.
func (fa *facts) kind(p string) (byte, string) {
	p = path.Clean(p)
	if m, ok := fa.made[p]; ok {
		if m.kind == '-' { // removed
			return 0, ""
		}
		return m.kind, m.target
	}
	if fsys, name, fi := fa.find(p); fi != nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := fs.ReadLink(fsys, name)
			return 'l', t
		case fi.IsDir():
			return 'd', ""
		case fi.Mode()&0o111 != 0:
			return 'x', ""
		}
		return 'f', ""
	}
	if fa.conffiles[p] {
		if strings.HasPrefix(p, "/etc/init.d/") {
			return 'x', ""
		}
		return 'f', ""
	}
	return 0, ""
}

// find is where the package or the closure ships p (not following a
// link at p itself).
func (fa *facts) find(p string) (fs.FS, string, fs.FileInfo) {
	fsys, name, fi, _ := fa.findOwn(p)
	return fsys, name, fi
}

// findOwn is find, also telling whether the package itself ships p.
func (fa *facts) findOwn(p string) (fs.FS, string, fs.FileInfo, bool) {
	for i, fsys := range []fs.FS{fa.own, fa.closure} {
		if fsys == nil {
			continue
		}
		for _, name := range usrVariants(p) {
			lstat := fs.Lstat
			if i == 1 {
				lstat = fa.closureLstat
			}
			if fi, err := lstat(fsys, name); err == nil {
				return fsys, name, fi, i == 0
			}
		}
	}
	return nil, "", nil, false
}

// usrVariants are the names p may have in a package tree: bookworm's
// packages still ship /bin, /sbin and /lib, which merged /usr joins.
func usrVariants(p string) []string {
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		return []string{"."}
	}
	for _, d := range []string{"bin/", "sbin/", "lib/", "lib64/"} {
		if strings.HasPrefix(rel, d) {
			return []string{rel, "usr/" + rel}
		}
		if strings.HasPrefix(rel, "usr/"+d) {
			return []string{rel, strings.TrimPrefix(rel, "usr/")}
		}
	}
	return []string{rel}
}

// resolve follows links from p and returns the final kind (0: unknown).
func (fa *facts) resolve(p string) byte {
	for range 8 {
		k, t := fa.kind(p)
		if k != 'l' {
			return k
		}
		if t == "" {
			return 0
		}
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(p), t)
		}
		p = t
	}
	return 0
}

// exists answers a file test operator (-e, -f, -d, -x, -L, ...) on p.
func (fa *facts) test(op, p string) tri {
	if !path.IsAbs(p) {
		return maybe
	}
	p = path.Clean(p)
	if p == "/run/systemd/system" {
		return triOf(op == "-e" || op == "-d" || op == "-x" || op == "-r")
	}
	if kind, ok := kernelFiles[p]; ok {
		switch op {
		case "-e", "-r":
			return yes
		case "-f":
			return triOf(kind == 'f')
		case "-c":
			return triOf(kind == 'c')
		case "-d", "-L", "-h", "-x", "-b", "-p", "-S":
			return no
		}
		return maybe
	}
	k, _ := fa.kind(p)
	if op == "-L" || op == "-h" {
		if k == 0 {
			return fa.absent(p)
		}
		return triOf(k == 'l')
	}
	if k == 'l' {
		k = fa.resolve(p)
	}
	if k == 0 {
		return fa.absent(p)
	}
	switch op {
	case "-e", "-r", "-w":
		return yes
	case "-f":
		return triOf(k == 'f' || k == 'x')
	case "-d":
		return triOf(k == 'd')
	case "-x":
		return triOf(k == 'x' || k == 'd')
	case "-s":
		if k == 'd' {
			return yes
		}
		return maybe
	case "-b", "-c", "-p", "-S":
		return no
	}
	return maybe
}

// absent is the answer for a path nothing ships or made: on a fresh
// system it does not exist, as far as the closure is known. dpkg's and
// ucf's backup and transfer files never exist before a script makes them.
func (fa *facts) absent(p string) tri {
	if dpkgLeftover.MatchString(p) {
		return no
	}
	if fa.closure == nil || under(p, "/proc") || under(p, "/sys") || under(p, "/dev") {
		return maybe
	}
	return no
}

// kernelFiles are what Linux always has under /proc and /dev ('f' a
// regular file as test -f sees it, 'c' a character device).
var kernelFiles = map[string]byte{
	"/proc/sys/kernel/random/uuid": 'f', "/proc/sys/kernel/random/boot_id": 'f',
	"/dev/null": 'c', "/dev/zero": 'c', "/dev/random": 'c', "/dev/urandom": 'c',
}

var dpkgLeftover = regexp.MustCompile(`\.(dpkg|ucf)-[a-z]+$`)

// lookPath finds a command in PATH's directories of the closure.
func (fa *facts) lookPath(name string) (string, tri) {
	if strings.Contains(name, "/") {
		return name, fa.test("-x", name)
	}
	for _, d := range []string{"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"} {
		if fa.test("-x", d+name) == yes {
			return d + name, yes
		}
	}
	if fa.closure == nil {
		return "", maybe
	}
	return "", no
}

// list is the names in directory p (the package's, the closure's and
// what scripts made there), sorted.
func (fa *facts) list(p string) []string {
	seen := map[string]bool{}
	for i, fsys := range []fs.FS{fa.own, fa.closure} {
		if fsys == nil {
			continue
		}
		for _, name := range usrVariants(path.Clean(p)) {
			for _, e := range fa.readDir(fsys, name, i == 1) {
				seen[e] = true
			}
		}
	}
	for m := range fa.made {
		if path.Dir(m) == path.Clean(p) {
			seen[path.Base(m)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// glob expands a file name pattern whose last component holds the glob
// characters, against what the closure ships and scripts made; nil when
// nothing matches or the pattern is not of that form.
func (fa *facts) glob(pat string, cwd value) []string {
	dir, base := path.Split(pat)
	if strings.ContainsAny(dir, "*?[") || base == "" {
		return nil
	}
	if !path.IsAbs(dir) {
		if !cwd.known {
			return nil
		}
		dir = path.Join(cwd.s, dir) + "/"
	}
	var out []string
	for _, n := range fa.list(dir) {
		if strings.HasPrefix(n, ".") && !strings.HasPrefix(base, ".") {
			continue
		}
		if globMatch(base, n) {
			out = append(out, path.Join(dir, n))
		}
	}
	return out
}

// DirsFS is the merged tree of package store paths: a name is looked up
// in each directory in turn. It implements fs.ReadLinkFS so that links
// are reported, not followed (a package's absolute links point into the
// machine, not into the build host).
func DirsFS(dirs ...string) fs.FS {
	u := &dirsFS{memo: map[string]int{}, dirs: map[string][]fs.DirEntry{}}
	for _, d := range dirs {
		u.fss = append(u.fss, os.DirFS(d).(fs.ReadLinkFS))
	}
	return u
}

type dirsFS struct {
	fss  []fs.ReadLinkFS
	mu   sync.Mutex
	memo map[string]int // name → index of the first tree holding it, -1 none
	dirs map[string][]fs.DirEntry
}

func (u *dirsFS) which(name string) int {
	u.mu.Lock()
	i, ok := u.memo[name]
	u.mu.Unlock()
	if ok {
		return i
	}
	i = -1
	for j, f := range u.fss {
		if _, err := f.Lstat(name); err == nil {
			i = j
			break
		}
	}
	u.mu.Lock()
	u.memo[name] = i
	u.mu.Unlock()
	return i
}

func (u *dirsFS) Open(name string) (fs.File, error) {
	if i := u.which(name); i >= 0 {
		return u.fss[i].Open(name)
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (u *dirsFS) Lstat(name string) (fs.FileInfo, error) {
	if i := u.which(name); i >= 0 {
		return u.fss[i].Lstat(name)
	}
	return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
}

// ReadDir merges the directory's entries of every tree (the first tree
// holding a name wins).
func (u *dirsFS) ReadDir(name string) ([]fs.DirEntry, error) {
	u.mu.Lock()
	ents, ok := u.dirs[name]
	u.mu.Unlock()
	if ok {
		if ents == nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
		}
		return ents, nil
	}
	ents, err := u.readDir(name)
	u.mu.Lock()
	u.dirs[name] = ents
	u.mu.Unlock()
	return ents, err
}

func (u *dirsFS) readDir(name string) ([]fs.DirEntry, error) {
	fss := make([]fs.FS, len(u.fss))
	for i, f := range u.fss {
		fss[i] = f
	}
	out, err := mergeDirs(fss, name)
	if err == nil && out == nil {
		out = []fs.DirEntry{}
	}
	return out, err
}

// mergeDirs lists directory name in each of fss that has it, the first
// holding an entry name winning, sorted by name.
func mergeDirs(fss []fs.FS, name string) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	seen := map[string]bool{}
	found := false
	for _, f := range fss {
		if f == nil {
			continue
		}
		ents, err := fs.ReadDir(f, name)
		if err != nil {
			continue
		}
		found = true
		for _, e := range ents {
			if !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, e)
			}
		}
	}
	if !found {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (u *dirsFS) ReadLink(name string) (string, error) {
	if i := u.which(name); i >= 0 {
		return u.fss[i].ReadLink(name)
	}
	return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrNotExist}
}

// read reads a regular file at p (following links through the package
// and the closure, never into the build host); nil when there is none.
func (fa *facts) read(p string) ([]byte, error) {
	p = path.Clean(p)
	for range 8 {
		fsys, name, fi := fa.find(p)
		switch {
		case fi == nil:
			return nil, nil
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := fs.ReadLink(fsys, name)
			if err != nil {
				return nil, err
			}
			if !path.IsAbs(t) {
				t = path.Join(path.Dir(p), t)
			}
			p = path.Clean(t)
		case fi.Mode().IsRegular():
			return fs.ReadFile(fsys, name)
		default:
			return nil, nil
		}
	}
	return nil, nil
}
