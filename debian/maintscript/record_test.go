package maintscript

import (
	"bufio"
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-os/kiln/internal/fsutil"
)

var recordClosure = flag.String("record-closure", "", "`FILE` of NAME DIR lines (the store paths the corpus was fetched with): "+
	"analyze the corpus against them and rewrite testdata/closure.txt and the sourced helper files")

// recording is the real closure, noting every name the analysis looks up
// (with the package that ships it) and copying every file it reads into
// that package's testdata directory.
type recording struct {
	fss  []fs.ReadLinkFS
	pkgs []string
	mu   sync.Mutex
	seen map[string]string // "path package" → closure.txt line
}

// recordingFS is a view of the recording: every package (only < 0), or
// one package's tree.
type recordingFS struct {
	*recording
	only int
}

func newRecording(t testing.TB, list string) *recording {
	f, err := os.Open(list)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &recording{seen: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) != 2 {
			continue
		}
		r.pkgs = append(r.pkgs, fl[0])
		r.fss = append(r.fss, os.DirFS(fl[1]).(fs.ReadLinkFS))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

// view is the recording of package name's tree alone (every package's
// when name is not one of them).
func (r *recording) view(name string) recordingFS {
	for i, p := range r.pkgs {
		if p == name {
			return recordingFS{r, i}
		}
	}
	return recordingFS{r, -1}
}

func (r recordingFS) find(name string) (int, fs.FileInfo) {
	for i, f := range r.fss {
		if r.only >= 0 && i != r.only {
			continue
		}
		if fi, err := f.Lstat(name); err == nil {
			return i, fi
		}
	}
	return -1, nil
}

// Lstat answers from the first tree holding name, noting every tree of
// the view that holds it (so that each package's own tree is known too).
func (r recordingFS) Lstat(name string) (fs.FileInfo, error) {
	var first fs.FileInfo
	for i, f := range r.fss {
		if r.only >= 0 && i != r.only {
			continue
		}
		fi, err := f.Lstat(name)
		if err != nil {
			continue
		}
		if first == nil {
			first = fi
		}
		var line string
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := f.ReadLink(name)
			line = "l /" + name + " " + r.pkgs[i] + " " + t
		case fi.IsDir():
			line = "d /" + name + " " + r.pkgs[i]
		case fi.Mode()&0o111 != 0:
			line = "x /" + name + " " + r.pkgs[i]
		default:
			line = "f /" + name + " " + r.pkgs[i]
		}
		r.mu.Lock()
		r.seen[name+" "+r.pkgs[i]] = line
		r.mu.Unlock()
	}
	if first == nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
	}
	return first, nil
}

func (r recordingFS) ReadLink(name string) (string, error) {
	if i, _ := r.find(name); i >= 0 {
		return r.fss[i].ReadLink(name)
	}
	return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrNotExist}
}

func (r recordingFS) Open(name string) (fs.File, error) {
	i, fi := r.find(name)
	if i < 0 || !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	b, err := fs.ReadFile(r.fss[i], name)
	if err != nil {
		return nil, err
	}
	dst := filepath.Join("testdata", r.pkgs[i], name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(dst, b, 0o644); err != nil {
		return nil, err
	}
	return r.fss[i].Open(name)
}

// ReadDir lists a directory, noting every entry.
func (r recordingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	var fss []fs.FS
	for i, f := range r.fss {
		if r.only < 0 || i == r.only {
			fss = append(fss, f)
		}
	}
	out, err := mergeDirs(fss, name)
	if err != nil {
		return nil, err
	}
	r.Lstat(name)
	for _, e := range out {
		r.Lstat(path.Join(name, e.Name()))
	}
	return out, nil
}

// write rewrites testdata/closure.txt with the names found.
func (r *recording) write() error {
	var lines []string
	for _, l := range r.seen {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return fsutil.WriteFile("testdata/closure.txt", []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// recordCorpus runs the analysis against the real closure (with
// -record-closure) and rewrites what the tests then read instead. Each
// package's own tree is its real store path behind its testdata
// directory, as in a build, where it is the store path itself.
func recordCorpus(t *testing.T) map[string]string {
	rec := newRecording(t, *recordClosure)
	a := &Analyzer{Closure: recordingFS{rec, -1}, HostName: corpusHost}
	var in []Package
	for _, p := range corpusPackages(t) {
		in = append(in, Package{Name: p, Files: unionFS{os.DirFS(filepath.Join("testdata", p)), rec.view(p)}})
	}
	ans, err := a.AnalyzeAll(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.write(); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d names", len(rec.seen))
	out := map[string]string{}
	for _, an := range ans {
		out[an.Package] = an.Text()
	}
	return out
}
