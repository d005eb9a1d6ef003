package shell

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/debian"
)

// universe is a small archive: jq and its library, an Essential base,
// and a kernel a system lock would hold.
func universe() *debian.Universe {
	pkg := func(name, depends string, essential bool) *debian.Package {
		return &debian.Package{Name: name, Version: "1.0-1", Architecture: "amd64", Essential: essential, Depends: depends,
			Filename: "pool/main/" + name + ".deb", Size: 1, SHA256: strings.Repeat("a", 63) + string(rune('a'+len(name)%6)), Suite: "bookworm"}
	}
	return debian.NewUniverse([]*debian.Package{
		pkg("jq", "libjq1", false), pkg("libjq1", "libc6", false), pkg("libc6", "", false),
		pkg("base-files", "libc6", true), pkg("linux-image-cloud-amd64", "", false), pkg("mawk", "libc6", false),
	})
}

// loader counts the resolutions; with fail set, a resolution fails the
// test (a start that must not need the network).
type loader struct {
	t     *testing.T
	calls int
	fail  bool
}

func (l *loader) load(context.Context) (*debian.Universe, map[string]debian.Input, error) {
	l.calls++
	if l.fail {
		l.t.Error("resolved against the archive; the start should have needed no network")
		return nil, nil, errors.New("no network")
	}
	return universe(), map[string]debian.Input{"bookworm": {Original: debian.Original{Suite: "bookworm"}}}, nil
}

func names(l *debian.Lock) []string {
	var out []string
	for _, p := range l.Packages {
		out = append(out, p.Name)
	}
	return out
}

func TestLockRecordedThenRead(t *testing.T) {
	dir := t.TempDir()
	ld := &loader{t: t}
	o := &Options{Packages: []string{"jq"}, RecordDir: filepath.Join(dir, "shell"), ProjectLock: filepath.Join(dir, "kiln.lock"), Load: ld.load}
	l, file, resolved, err := o.lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"base-files", "jq", "libc6", "libjq1"} // Essential in, the rest of the archive out
	if !resolved || file != filepath.Join(dir, "shell", "jq.lock") || !cmp.Equal(names(l), want) {
		t.Fatalf("first start: %s resolved %v, packages %v; want %v recorded in shell/jq.lock", file, resolved, names(l), want)
	}
	// The second start reads the record and resolves nothing.
	ld.fail = true
	l2, file2, resolved, err := o.lock(context.Background())
	if err != nil || resolved || file2 != file || !cmp.Equal(l2, l) {
		t.Errorf("second start: %s resolved %v, %v; want the recorded lock read", file2, resolved, err)
	}
	// --update resolves again.
	ld.fail = false
	o.Update = true
	if _, _, resolved, err := o.lock(context.Background()); err != nil || !resolved || ld.calls != 2 {
		t.Errorf("--update: resolved %v (%d resolutions), %v", resolved, ld.calls, err)
	}
}

// A project lock that locks the packages serves them (its closure only:
// no kernel); one that does not is passed over for a recorded lock.
func TestLockProject(t *testing.T) {
	dir := t.TempDir()
	project := filepath.Join(dir, "kiln.lock")
	req := debian.Request{Packages: []string{"jq", "linux-image-cloud-amd64"}}
	res, err := debian.Resolve(universe(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := debian.NewLock(nil, req, res).Write(project); err != nil {
		t.Fatal(err)
	}
	ld := &loader{t: t, fail: true}
	o := &Options{Packages: []string{"jq"}, RecordDir: filepath.Join(dir, "shell"), ProjectLock: project, Load: ld.load}
	l, file, resolved, err := o.lock(context.Background())
	if err != nil || resolved || file != project || !cmp.Equal(names(l), []string{"base-files", "jq", "libc6", "libjq1"}) {
		t.Fatalf("got %s resolved %v, packages %v, %v; want jq's closure from the project lock", file, resolved, names(l), err)
	}
	ld.fail = false
	o.Packages = []string{"mawk"}
	if _, file, resolved, err := o.lock(context.Background()); err != nil || !resolved || file != filepath.Join(dir, "shell", "mawk.lock") {
		t.Errorf("a package the project lock lacks: %s resolved %v, %v; want a fresh recorded resolution", file, resolved, err)
	}
}

func TestLockGiven(t *testing.T) {
	dir := t.TempDir()
	given := filepath.Join(dir, "my.lock")
	ld := &loader{t: t}
	o := &Options{Packages: []string{"jq"}, Lock: given, RecordDir: filepath.Join(dir, "shell"), Load: ld.load}
	// Missing: resolved and written there.
	if _, file, resolved, err := o.lock(context.Background()); err != nil || !resolved || file != given {
		t.Fatalf("--lock of a missing file: %s resolved %v, %v", file, resolved, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "shell")); !os.IsNotExist(err) {
		t.Error("--lock also recorded a lock in the record directory")
	}
	ld.fail = true
	if _, _, resolved, err := o.lock(context.Background()); err != nil || resolved {
		t.Errorf("--lock of an existing file: resolved %v, %v", resolved, err)
	}
	// It must lock what is asked for: never resolved over.
	o.Packages = []string{"jq", "mwak"}
	_, _, _, err := o.lock(context.Background())
	if !errors.Is(err, debian.ErrUnknownPackage) || !strings.Contains(err.Error(), given) || !strings.Contains(err.Error(), `"mwak"`) {
		t.Errorf("--lock without the package: %v", err)
	}
}

func TestUnknownPackage(t *testing.T) {
	o := &Options{Packages: []string{"jqq"}, RecordDir: t.TempDir(), Load: (&loader{t: t}).load}
	_, _, _, err := o.lock(context.Background())
	if !errors.Is(err, debian.ErrUnknownPackage) || !strings.Contains(err.Error(), `"jqq" (did you mean jq`) {
		t.Errorf("got %v, want an unknown package with a suggestion", err)
	}
}

func TestCleanNames(t *testing.T) {
	got, err := cleanNames([]string{"jq", "g++", "jq", "libc6"})
	if err != nil || !cmp.Equal(got, []string{"g++", "jq", "libc6"}) {
		t.Errorf("cleanNames = %v, %v", got, err)
	}
	for _, bad := range [][]string{nil, {"JQ"}, {"../x"}, {"a"}, {"jq:amd64"}} {
		if _, err := cleanNames(bad); err == nil {
			t.Errorf("cleanNames(%q) accepted", bad)
		}
	}
	if f := RecordFile([]string{"jq", "curl"}); f != "curl,jq.lock" {
		t.Errorf("RecordFile = %q", f)
	}
	long := RecordFile([]string{strings.Repeat("a", 150), strings.Repeat("b", 150)})
	if len(long) != 37 || !strings.HasSuffix(long, ".lock") {
		t.Errorf("RecordFile of long names = %q, want a digest", long)
	}
	if envName([]string{"curl", "jq"}) != "shell-curl-jq" || envName([]string{strings.Repeat("a", 120)}) != "shell-env" {
		t.Error("envName")
	}
}

func TestEnviron(t *testing.T) {
	got := Environ([]string{"HOME=/h", "PATH=/usr/local/bin:/usr/bin:/bin", "KILN_SHELL=old", "PATH=/x:/usr/sbin"}, "/kiln/store/e")
	want := []string{"HOME=/h", "PATH=/usr/bin:/usr/sbin:/x", "KILN_SHELL=/kiln/store/e"}
	if !cmp.Equal(got, want) {
		t.Errorf("Environ = %q, want %q", got, want)
	}
}

func TestCommandRefusesDirUnderUsr(t *testing.T) {
	for _, dir := range []string{"/usr", "/usr/src/x", "/lib64", "/bin/x"} {
		_, err := Command("/kiln", Spec{Store: "/s", Usr: "/kiln/store/00000000000000000000000000000000-e", Dir: dir}, nil, Stdio{})
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("working directory %s: %v", dir, err)
		}
	}
	if _, err := Command("/kiln", Spec{Store: "/s", Usr: "/kiln/store/00000000000000000000000000000000-e", Dir: "/usrx"}, nil, Stdio{}); err != nil {
		t.Errorf("/usrx: %v", err)
	}
}

func TestParseSpec(t *testing.T) {
	good := `{"store":"/s","usr":"/kiln/store/00000000000000000000000000000000-e","dir":"/w","argv":["jq"]}`
	if s, err := ParseSpec(good); err != nil || s.Argv[0] != "jq" {
		t.Errorf("ParseSpec(good) = %+v, %v", s, err)
	}
	for _, bad := range []string{`{"store":"s","usr":"/kiln/store/00000000000000000000000000000000-e","dir":"/w"}`, `{"usr":"/etc","store":"/s","dir":"/w"}`, `{"extra":1}`, `[`} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%s) accepted", bad)
		}
	}
}
