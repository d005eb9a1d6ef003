package debian

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
)

// handDeb assembles a .deb (ar, control.tar.gz, data.tar.gz) from tar
// headers, for inputs dpkg-deb would never build.
func handDeb(t *testing.T, entries []*tar.Header) []byte {
	t.Helper()
	tgz := func(hs []*tar.Header) []byte {
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		tw := tar.NewWriter(gz)
		for _, h := range hs {
			body := []byte(strings.Repeat("x", int(h.Size)))
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			tw.Write(body)
		}
		tw.Close()
		gz.Close()
		return b.Bytes()
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	member := func(name string, data []byte) {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(data))
		ar.Write(data)
		if len(data)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", tgz([]*tar.Header{{Name: "./control", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg}}))
	member("data.tar.gz", tgz(entries))
	return ar.Bytes()
}

func TestUnpackRefusesEscapes(t *testing.T) {
	reg := func(name string) *tar.Header {
		return &tar.Header{Name: name, Mode: 0o644, Size: 5, Typeflag: tar.TypeReg}
	}
	link := func(name, target string) *tar.Header {
		return &tar.Header{Name: name, Linkname: target, Mode: 0o777, Typeflag: tar.TypeSymlink}
	}
	tests := []struct {
		name    string
		entries []*tar.Header
		errHas  string // "" when the unpack succeeds (and stays inside)
	}{
		{"file through a symlink to outside", []*tar.Header{link("./etc", "/tmp"), reg("./etc/evil")}, "goes through symlink etc"},
		{"dot-dot names stay inside", []*tar.Header{reg("./../../evil")}, ""},
		{"hardlink through a symlink", []*tar.Header{link("./l", "/"), {Name: "./h", Linkname: "./l/etc/passwd", Typeflag: tar.TypeLink}}, "goes through symlink l"},
		{"file replacing a symlink", []*tar.Header{link("./s", "/tmp/x"), reg("./s")}, "replaces a directory or symlink"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deb := handDeb(t, tc.entries)
			outside := t.TempDir()
			dir := filepath.Join(outside, "pkg")
			sum := sha256.Sum256(deb)
			file := filepath.Join(outside, "x.deb")
			os.WriteFile(file, deb, 0o644)
			err := UnpackDeb(file, dir, hex.EncodeToString(sum[:]))
			if tc.errHas == "" && err != nil {
				t.Fatal(err)
			}
			if tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)) {
				t.Fatalf("got error %v, want one with %q", err, tc.errHas)
			}
			// Nothing but the package dir and the .deb in outside.
			entries, _ := os.ReadDir(outside)
			for _, e := range entries {
				if e.Name() != "pkg" && e.Name() != "x.deb" {
					t.Errorf("unpack wrote %s outside its directory", e.Name())
				}
			}
			if _, err := os.Lstat("/tmp/evil"); err == nil && tc.name == "file through a symlink to outside" {
				t.Error("wrote /tmp/evil")
			}
		})
	}
}

func TestUnpackRefusesNonDebs(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"not ar":  []byte("hello"),
		"no data": []byte("!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n"),
	} {
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".deb")
		os.WriteFile(file, data, 0o644)
		if err := UnpackDeb(file, filepath.Join(dir, "out-"+filepath.Base(file)), ""); err == nil {
			t.Errorf("%s: unpack succeeded", name)
		}
	}
}

// TestUnpackListsSetID: the setuid and setgid files of bookworm's passwd
// (chfn … passwd 4755 root:root, chage and expiry 2755 root:shadow) are
// listed in SetIDFile as dpkg-deb lists their modes and owners, and
// unpacked without their bits.
func TestUnpackListsSetID(t *testing.T) {
	testenv.NeedTools(t, "apt-get", "dpkg-deb")
	dl := t.TempDir()
	cmd := exec.Command("apt-get", "download", "passwd")
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "apt-get download passwd: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "passwd_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("apt-get download passwd: got %v", debs)
	}
	out, err := exec.Command("dpkg-deb", "-c", debs[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || f[0][0] != '-' || !strings.ContainsAny(f[0][3:4]+f[0][6:7], "sS") {
			continue
		}
		owner, group, _ := strings.Cut(f[1], "/")
		want = append(want, fmt.Sprintf("%04o\t%s\t%s\t%s", lsMode(t, f[0]), owner, group, strings.TrimPrefix(f[len(f)-1], "./")))
	}
	if len(want) < 5 {
		t.Fatalf("dpkg-deb lists %d setuid or setgid files in passwd:\n%s", len(want), out)
	}
	dir := filepath.Join(t.TempDir(), "p")
	if err := UnpackDeb(debs[0], dir, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, SetIDFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("%s:\n%s\nwant (dpkg-deb -c):\n%s", SetIDFile, b, strings.Join(want, "\n"))
	}
	fi, err := os.Stat(filepath.Join(dir, "usr/bin/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
		t.Errorf("usr/bin/passwd unpacked %v: setuid in the store", fi.Mode())
	}
}

// TestUnpackNoSetID: a package without setuid or setgid files has no
// SetIDFile; a later entry of the same name without the bits replaces
// an earlier one's.
func TestUnpackNoSetID(t *testing.T) {
	deb := handDeb(t, []*tar.Header{
		{Name: "./usr/bin/a", Mode: 0o4755, Size: 1, Typeflag: tar.TypeReg, Uname: "root", Gname: "root"},
		{Name: "./usr/bin/a", Mode: 0o755, Size: 1, Typeflag: tar.TypeReg},
		{Name: "./usr/bin/b", Mode: 0o2755, Size: 1, Typeflag: tar.TypeReg, Gid: 42},
	})
	f := filepath.Join(t.TempDir(), "x.deb")
	if err := os.WriteFile(f, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "p")
	if err := UnpackDeb(f, dir, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, SetIDFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := "2755\t0\t42\tusr/bin/b\n"; string(b) != want {
		t.Errorf("%s = %q, want %q", SetIDFile, b, want)
	}
}

// lsMode converts an ls-style mode ("-rwsr-xr-x") to its octal value.
func lsMode(t *testing.T, s string) uint32 {
	t.Helper()
	if len(s) != 10 {
		t.Fatalf("mode %q", s)
	}
	var m uint32
	for i, c := range s[1:] {
		bit := uint32(1) << (8 - i)
		switch c {
		case 'r', 'w', 'x':
			m |= bit
		case 's', 't':
			m |= bit
			fallthrough
		case 'S', 'T':
			m |= map[int]uint32{2: 0o4000, 5: 0o2000, 8: 0o1000}[i]
		}
	}
	return m
}
