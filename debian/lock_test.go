package debian

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/store"
)

func goldenLock(t *testing.T) *Lock {
	t.Helper()
	req := Request{Packages: []string{"app", "linux-image-cloud-amd64"}, Prefer: map[string]string{"awk": "mawk", "mail-transport-agent": "exim"}}
	res, err := Resolve(fixtureUniverse(t), req)
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]Input{}
	for i, suite := range []string{"bookworm", "bookworm-updates"} {
		inputs[suite] = Input{
			Original: Original{Suite: suite, Components: []string{"main"}, Arch: "amd64"},
			Locked: Locked{
				InReleaseSHA256: strings.Repeat(string(rune('a'+i)), 64),
				PackagesSHA256:  map[string]string{"main": strings.Repeat(string(rune('c'+i)), 64)},
				Date:            "2026-11-21T08:00:00Z",
			},
		}
	}
	return NewLock(inputs, req, res)
}

func TestLockGolden(t *testing.T) {
	l := goldenLock(t)
	got, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "kiln.lock.golden"), got)
	if bytes.Contains(got, []byte("http")) {
		t.Error("the lock names a URL")
	}
}

func TestLockRoundTrip(t *testing.T) {
	l := goldenLock(t)
	file := filepath.Join(t.TempDir(), LockFile)
	if err := l.Write(file); err != nil {
		t.Fatal(err)
	}
	back, err := ReadLock(file)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(l, back); d != "" {
		t.Errorf("read back (-wrote +read):\n%s", d)
	}
	if !back.Matches(Request{Packages: []string{"linux-image-cloud-amd64", "app"}, Prefer: map[string]string{"awk": "mawk", "mail-transport-agent": "exim"}}) {
		t.Error("lock does not match the request it was made for")
	}
	for _, req := range []Request{
		{Packages: []string{"app"}, Prefer: map[string]string{"awk": "mawk", "mail-transport-agent": "exim"}},
		{Packages: []string{"app", "linux-image-cloud-amd64"}},
		{Packages: []string{"linux-image-cloud-amd64", "app"}, Prefer: map[string]string{"awk": "mawk", "mail-transport-agent": "exim"}, Recommends: true},
	} {
		if back.Matches(req) {
			t.Errorf("lock matches %+v", req)
		}
	}
}

func TestLockStorePath(t *testing.T) {
	l := goldenLock(t)
	p, ok := l.Package("app")
	if !ok {
		t.Fatal("app not locked")
	}
	want, err := store.FixedPath("deb/3", p.SHA256, "app-1_2.0-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := l.StorePath("app"); !ok || got != want {
		t.Errorf("StorePath(app) = %v, %v; want %v", got, ok, want)
	}
	if _, ok := l.StorePath("nope"); ok {
		t.Error("StorePath of an unlocked package succeeded")
	}
}

func TestLockWhy(t *testing.T) {
	l := goldenLock(t)
	tests := []struct {
		name string
		want []string
	}{
		{"exim", []string{"app", "exim"}},
		{"gcc-base", []string{"base", "libc", "gcc-base"}},
		{"linux-image-6.1.0-1-cloud-amd64", []string{"linux-image-cloud-amd64", "linux-image-6.1.0-1-cloud-amd64"}},
		{"app", []string{"app"}},
	}
	for _, tc := range tests {
		got, err := l.Why(tc.name)
		if err != nil {
			t.Errorf("Why(%s): %v", tc.name, err)
			continue
		}
		if !cmp.Equal(got, tc.want) {
			t.Errorf("Why(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := l.Why("gawk"); err == nil {
		t.Error("Why(gawk) of an unlocked package succeeded")
	}
}

// Closure keeps the named packages, the Essential ones and what they
// depend on, and nothing else of the lock (here: not the kernel).
func TestLockClosure(t *testing.T) {
	l := goldenLock(t)
	tests := []struct {
		names []string
		want  []string
	}{
		{nil, []string{"base", "gcc-base", "libc"}},
		{[]string{"mawk"}, []string{"base", "gcc-base", "libc", "mawk"}},
		{[]string{"app"}, []string{"app", "base", "exim", "gcc-base", "helper", "libc", "libfoo", "mawk"}},
	}
	for _, tc := range tests {
		c, err := l.Closure(tc.names)
		if err != nil {
			t.Errorf("Closure(%v): %v", tc.names, err)
			continue
		}
		var got []string
		for _, p := range c.Packages {
			got = append(got, p.Name)
		}
		if !cmp.Equal(got, tc.want) {
			t.Errorf("Closure(%v) = %v, want %v", tc.names, got, tc.want)
		}
		if !cmp.Equal(c.Roots.Packages, tc.names) || !cmp.Equal(c.Inputs, l.Inputs) {
			t.Errorf("Closure(%v): roots %v, inputs %v", tc.names, c.Roots.Packages, c.Inputs)
		}
		// What it writes reads back: every depends edge stays inside.
		data, err := c.Marshal()
		if err == nil {
			_, err = ParseLock(data)
		}
		if err != nil {
			t.Errorf("Closure(%v) does not read back: %v", tc.names, err)
		}
	}
	_, err := l.Closure([]string{"mwak", "app"})
	if !errors.Is(err, ErrUnknownPackage) || !strings.Contains(err.Error(), `"mwak" (did you mean "mawk"?)`) {
		t.Errorf("Closure of an unlocked name: %v", err)
	}
}

func TestParseLockRefuses(t *testing.T) {
	good, err := goldenLock(t).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"future version": strings.Replace(string(good), `"version": 2`, `"version": 3`, 1),
		"unknown field":  strings.Replace(string(good), `"roots"`, `"url": "x", "roots"`, 1),
		"escaping path":  strings.Replace(string(good), `"pool/main/a/app/`, `"../../etc/`, 1),
		"not json":       "{",
		"open closure":   strings.Replace(string(good), `"helper",`, `"nothelper",`, 1),
	}
	for name, data := range tests {
		if _, err := ParseLock([]byte(data)); err == nil {
			t.Errorf("%s: ParseLock succeeded", name)
		}
	}
}

// TestRepoLock checks the kiln.lock committed for the default system: it
// parses, is closed, and locks every default package.
func TestRepoLock(t *testing.T) {
	l, err := ReadLock(filepath.Join("..", LockFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(append([]string{}, DefaultPackages...), l.Roots.Packages...) {
		if _, ok := l.Package(n); !ok {
			t.Errorf("%s is not locked", n)
		}
	}
	for _, n := range []string{"usrmerge", "perl", "initramfs-tools"} {
		if _, ok := l.Package(n); ok {
			t.Errorf("%s is locked; the default system must not pull it in", n)
		}
	}
	for _, p := range l.Packages {
		if _, err := l.Why(p.Name); err != nil {
			t.Errorf("why %s: %v", p.Name, err)
		}
	}
}

func TestLockChanges(t *testing.T) {
	old := &Lock{Packages: []LockedPackage{{Name: "a", Version: "1"}, {Name: "b", Version: "1"}, {Name: "c", Version: "2"}}}
	l := &Lock{Packages: []LockedPackage{{Name: "a", Version: "1"}, {Name: "c", Version: "3"}, {Name: "d", Version: "1"}}}
	want := []string{"- b 1", "~ c 2 → 3", "+ d 1"}
	if got := l.Changes(old); !slices.Equal(got, want) {
		t.Errorf("Changes = %q, want %q", got, want)
	}
	if got := l.Changes(l); len(got) != 0 {
		t.Errorf("Changes of itself = %q", got)
	}
}
