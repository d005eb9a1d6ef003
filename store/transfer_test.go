package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exportTestTree builds a path with every kind of entry a NAR holds.
func exportTestTree(t *testing.T, s *Store) (lib, app Path) {
	t.Helper()
	lib = build(t, s, "lib", nil, tree{"lib/x.so": "x", "empty": ""})
	app = testPath(t, "app")
	err := s.Build(context.Background(), app, []Path{lib, app}, func(tmp string) error {
		if err := (tree{
			"bin/link":          "->" + lib.String() + "/lib/x.so",
			"bin/self":          "->" + app.String() + "/share/doc/readme",
			"share/doc/readme":  strings.Repeat("text ", 1000),
			"share/empty-dir/":  "",
			"share/doc/a-b":     "1",
			"share/doc/a.b":     "2",
			"share/doc/unicode": "ü",
		}).fill(tmp); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, "bin", "app"), []byte("#!/bin/sh\n"), 0o755)
	})
	if err != nil {
		t.Fatal(err)
	}
	return lib, app
}

func TestExportImportRoundTrip(t *testing.T) {
	src := openTest(t)
	dst := openTest(t)
	lib, app := exportTestTree(t, src)
	order, err := src.SortByReferences([]Path{app, lib})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Path{lib, app}; !slices.Equal(order, want) {
		t.Fatalf("SortByReferences = %v, want %v", order, want)
	}
	for _, p := range order {
		info, err := src.Info(p)
		if err != nil {
			t.Fatal(err)
		}
		var nar bytes.Buffer
		if err := src.ExportNAR(&nar, p); err != nil {
			t.Fatal(err)
		}
		if int64(nar.Len()) != info.NarSize {
			t.Errorf("%s: exported %d bytes, recorded size %d", p, nar.Len(), info.NarSize)
		}
		// A trailing byte must stay unread: the stream's next header.
		r := io.MultiReader(&nar, strings.NewReader("!"))
		if err := dst.ImportNAR(context.Background(), r, p, info.Refs, info.NarHash); err != nil {
			t.Fatal(err)
		}
		if rest, _ := io.ReadAll(r); string(rest) != "!" {
			t.Errorf("%s: import left %q unread, want %q", p, rest, "!")
		}
		got, err := dst.Info(p)
		if err != nil {
			t.Fatal(err)
		}
		if got.NarHash != info.NarHash || got.NarSize != info.NarSize || !slices.Equal(got.Refs, info.Refs) {
			t.Errorf("%s imported as %+v, want %+v", p, got, info)
		}
	}
	if problems, err := dst.Verify(context.Background()); err != nil || len(problems) != 0 {
		t.Errorf("verify after import: %v, %v", problems, err)
	}
	fi, err := os.Stat(filepath.Join(dst.Physical(app), "bin", "app"))
	if err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("bin/app after import: %v, %v; want mode 0555", fi, err)
	}
}

// Damage in transit: a changed byte in a file's content, in the structure,
// a truncated stream. Each is refused and nothing is registered.
func TestImportRefusesDamagedNAR(t *testing.T) {
	src := openTest(t)
	_, app := exportTestTree(t, src)
	info, _ := src.Info(app)
	var nar bytes.Buffer
	if err := src.ExportNAR(&nar, app); err != nil {
		t.Fatal(err)
	}
	good := nar.Bytes()
	content := bytes.Index(good, []byte("text text"))
	structure := bytes.Index(good, []byte("directory"))
	for _, tc := range []struct {
		name string
		nar  func() []byte
		want string
	}{
		{"flipped content byte", func() []byte { b := slices.Clone(good); b[content] ^= 1; return b }, "NAR hash mismatch"},
		{"flipped structure byte", func() []byte { b := slices.Clone(good); b[structure] ^= 1; return b }, "bad NAR"},
		{"truncated", func() []byte { return good[:len(good)-9] }, "unexpected EOF"},
		{"not a NAR", func() []byte { return []byte("hello, world\n\n\n\n\n") }, "bad NAR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := openTest(t)
			// the references, imported intact
			for _, r := range info.Refs {
				if r == app {
					continue
				}
				ri, _ := src.Info(r)
				var b bytes.Buffer
				if err := src.ExportNAR(&b, r); err != nil {
					t.Fatal(err)
				}
				if err := dst.ImportNAR(context.Background(), &b, r, ri.Refs, ri.NarHash); err != nil {
					t.Fatal(err)
				}
			}
			err := dst.ImportNAR(context.Background(), bytes.NewReader(tc.nar()), app, info.Refs, info.NarHash)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("import = %v, want an error containing %q", err, tc.want)
			}
			if dst.Valid(app) {
				t.Fatal("damaged NAR registered")
			}
			assertNoLeftovers(t, dst, app)
		})
	}
}

func TestImportNeedsValidRefs(t *testing.T) {
	src := openTest(t)
	_, app := exportTestTree(t, src)
	info, _ := src.Info(app)
	var nar bytes.Buffer
	if err := src.ExportNAR(&nar, app); err != nil {
		t.Fatal(err)
	}
	dst := openTest(t)
	err := dst.ImportNAR(context.Background(), &nar, app, info.Refs, info.NarHash)
	if !errors.Is(err, ErrNotValid) || dst.Valid(app) {
		t.Fatalf("import without its references = %v (valid %v), want ErrNotValid", err, dst.Valid(app))
	}
}

// A damaged store path is not exported: the receiver would refuse it.
func TestExportRefusesDamagedPath(t *testing.T) {
	s := openTest(t)
	p := build(t, s, "damaged", nil, tree{"f": "good"})
	f := filepath.Join(s.Physical(p), "f")
	os.Chmod(f, 0o644)
	if err := os.WriteFile(f, []byte("evil"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.ExportNAR(io.Discard, p)
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("export of a damaged path = %v, want ErrHashMismatch", err)
	}
}

// Import checks the announced size and lets the caller refuse the path
// after the NAR was read (Finish); either refusal registers nothing.
func TestImportChecksSizeAndFinish(t *testing.T) {
	src := openTest(t)
	lib := build(t, src, "lib", nil, tree{"lib/x.so": "x"})
	info, _ := src.Info(lib)
	var nar bytes.Buffer
	if err := src.ExportNAR(&nar, lib); err != nil {
		t.Fatal(err)
	}
	finished := errors.New("compressed file is not the one announced")
	for _, tc := range []struct {
		name string
		im   Import
		want error
	}{
		{"right size", Import{Path: lib, NarHash: info.NarHash, NarSize: info.NarSize}, nil},
		{"wrong size", Import{Path: lib, NarHash: info.NarHash, NarSize: info.NarSize + 8}, ErrHashMismatch},
		{"finish refuses", Import{Path: lib, NarHash: info.NarHash, Finish: func() error { return finished }}, finished},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := openTest(t)
			err := dst.Import(context.Background(), bytes.NewReader(nar.Bytes()), tc.im)
			if tc.want == nil {
				if err != nil || !dst.Valid(lib) {
					t.Fatalf("import = %v (valid %v), want it valid", err, dst.Valid(lib))
				}
				return
			}
			if !errors.Is(err, tc.want) || dst.Valid(lib) {
				t.Fatalf("import = %v (valid %v), want %v and nothing registered", err, dst.Valid(lib), tc.want)
			}
			assertNoLeftovers(t, dst, lib)
		})
	}
}
