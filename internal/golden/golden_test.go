package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records failures. Fatalf stops the goroutine as testing.T does;
// any method Check should not call panics through the nil embedded TB.
type fakeTB struct {
	testing.TB
	fatals, errors []string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// check runs Check on a fake in its own goroutine, so Fatalf can end it.
func check(path string, got []byte) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Check(f, path, got)
	}()
	<-done
	return f
}

func withUpdate(t *testing.T, on bool) {
	old := *update
	*update = on
	t.Cleanup(func() { *update = old })
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.golden")
	binary := filepath.Join(dir, "binary.golden")
	if err := os.WriteFile(text, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(binary, []byte{0xff, 0xfe, 0, 1, 2}, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		path        string
		got         string
		wantFatal   string // substring of the Fatalf message, "" for none
		wantErrorIn []string
	}{
		{name: "equal", path: text, got: "one\ntwo\nthree\n"},
		{name: "equal-binary", path: binary, got: "\xff\xfe\x00\x01\x02"},
		{name: "differs", path: text, got: "one\nTWO\nthree\n",
			wantErrorIn: []string{text + " differs", "-want +got", "two", "TWO"}},
		{name: "trailing-newline", path: text, got: "one\ntwo\nthree",
			wantErrorIn: []string{text + " differs"}},
		{name: "differs-binary", path: binary, got: "\xff\xfe\x00\x01\x03",
			wantErrorIn: []string{binary + " differs", "00000000  ff fe 00 01 0", "|.....|"}}, // a hex dump diff
		{name: "missing", path: filepath.Join(dir, "none.golden"), got: "x",
			wantFatal: "run go test -update to create it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := check(tc.path, []byte(tc.got))
			switch {
			case tc.wantFatal == "" && len(f.fatals) > 0:
				t.Errorf("Fatalf(%q), want none", f.fatals)
			case tc.wantFatal != "" && (len(f.fatals) != 1 || !strings.Contains(f.fatals[0], tc.wantFatal)):
				t.Errorf("Fatalf calls %q, want one containing %q", f.fatals, tc.wantFatal)
			}
			if len(tc.wantErrorIn) == 0 {
				if len(f.errors) > 0 {
					t.Errorf("Errorf(%q), want none", f.errors)
				}
				return
			}
			if len(f.errors) != 1 {
				t.Fatalf("Errorf calls %q, want one", f.errors)
			}
			for _, s := range tc.wantErrorIn {
				if !strings.Contains(f.errors[0], s) {
					t.Errorf("error %q does not contain %q", f.errors[0], s)
				}
			}
		})
	}
}

func TestCheckUpdate(t *testing.T) {
	withUpdate(t, true)
	if !Update() {
		t.Fatal("Update() = false under -update")
	}
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.golden")
	if err := os.WriteFile(existing, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created := filepath.Join(dir, "sub", "dir", "new.golden")
	for _, p := range []string{existing, created} {
		if f := check(p, []byte("new\n")); len(f.fatals)+len(f.errors) > 0 {
			t.Errorf("Check(%s) under -update failed: %q %q", p, f.fatals, f.errors)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != "new\n" {
			t.Errorf("%s = %q, %v after update, want %q", p, b, err, "new\n")
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v, %v, want 0644", p, fi.Mode(), err)
		}
	}
	// The rewritten file now matches without -update.
	withUpdate(t, false)
	if Update() {
		t.Fatal("Update() = true without -update")
	}
	if f := check(created, []byte("new\n")); len(f.fatals)+len(f.errors) > 0 {
		t.Errorf("Check after update: %q %q", f.fatals, f.errors)
	}
	if f := check(created, []byte("other\n")); len(f.errors) != 1 {
		t.Errorf("Check of other content after update: errors %q, want one", f.errors)
	}
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		want, got string
		empty     bool
	}{
		{"equal", "a\nb\n", "a\nb\n", true},
		{"empty", "", "", true},
		{"text", "a\nb\n", "a\nc\n", false},
		{"binary", "\xff\x00", "\xff\x01", false},
		{"text-vs-binary", "a", "\xff", false},
	} {
		if d := Diff([]byte(tc.want), []byte(tc.got)); (d == "") != tc.empty {
			t.Errorf("%s: Diff = %q, want empty %v", tc.name, d, tc.empty)
		}
	}
}
