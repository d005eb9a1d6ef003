package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/golden"
)

// streamPath builds a store path from files (name → content, "->x" a
// symlink), keyed as the first stream tests keyed theirs, so that the
// golden stream has kept its bytes since.
func streamPath(t *testing.T, s *Store, name string, files map[string]string, refs ...Path) Path {
	t.Helper()
	key := NewKey("cli-switch-test/1")
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		key.Add(n, files[n])
	}
	for _, r := range refs {
		key.AddPath("ref", r)
	}
	p, err := key.Path(name)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Build(context.Background(), p, refs, func(tmp string) error {
		for _, n := range names {
			full := filepath.Join(tmp, n)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			if target, ok := strings.CutPrefix(files[n], "->"); ok {
				err = os.Symlink(target, full)
			} else {
				err = os.WriteFile(full, []byte(files[n]), 0o644)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// streamPaths makes app referring to lib in s.
func streamPaths(t *testing.T, s *Store) (lib, app Path) {
	t.Helper()
	lib = streamPath(t, s, "lib", map[string]string{"lib/libx.so": strings.Repeat("x", 5000)})
	app = streamPath(t, s, "app", map[string]string{"bin/app": strings.Repeat("a", 3000), "bin/lib": "->" + lib.String() + "/lib/libx.so"}, lib)
	return lib, app
}

// The stream format is a contract between two kilns of different
// versions: pin its bytes.
func TestStreamGolden(t *testing.T) {
	src := openTest(t)
	lib, app := streamPaths(t, src)
	var stream bytes.Buffer
	st, err := src.SendStream(&stream, []Path{app, lib})
	if err != nil {
		t.Fatal(err)
	}
	if st.Paths != 2 {
		t.Errorf("sent %d paths, want 2", st.Paths)
	}
	golden.Check(t, filepath.Join("testdata", "store-stream.golden"), stream.Bytes())
	if !bytes.Contains(stream.Bytes(), []byte(`"narHash":"sha256:`)) || !bytes.Contains(stream.Bytes(), []byte(`"narSize":`)) {
		t.Errorf("the headers do not spell narHash and narSize, which receivers read")
	}
}

func TestStreamRoundTrip(t *testing.T) {
	src := openTest(t)
	lib, app := streamPaths(t, src)
	var stream bytes.Buffer
	if _, err := src.SendStream(&stream, []Path{app, lib}); err != nil {
		t.Fatal(err)
	}
	dst := openTest(t)
	var got []Path
	st, err := dst.ReceiveStream(context.Background(), bytes.NewReader(stream.Bytes()), func(p Path) { got = append(got, p) })
	if err != nil {
		t.Fatal(err)
	}
	if st.Paths != 2 || !slices.Equal(got, []Path{lib, app}) {
		t.Errorf("received %d paths %v, want lib then app", st.Paths, got)
	}
	if problems, err := dst.Verify(context.Background()); err != nil || len(problems) > 0 {
		t.Errorf("verify after receive: %v %v", problems, err)
	}
	// A second receive reads past the valid paths.
	if _, err := dst.ReceiveStream(context.Background(), bytes.NewReader(stream.Bytes()), nil); err != nil {
		t.Errorf("second receive: %v", err)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 20: "3.0 MiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestWriteMissing(t *testing.T) {
	s := openTest(t)
	lib, app := streamPaths(t, s)
	other, _ := NewKey("elsewhere").Path("other")
	var out bytes.Buffer
	in := app.String() + "\n\n" + other.String() + "\n" + lib.String() + "\n"
	if err := s.WriteMissing(&out, strings.NewReader(in)); err != nil || out.String() != other.String()+"\n" {
		t.Errorf("WriteMissing = %q, %v; want only %s", out.String(), err, other)
	}
	if err := s.WriteMissing(&out, strings.NewReader("not-a-path\n")); err == nil {
		t.Error("a line that is no store path was accepted")
	}
}
