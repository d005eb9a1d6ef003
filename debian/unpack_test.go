package debian

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
