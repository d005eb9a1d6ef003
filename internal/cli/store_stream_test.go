package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/store"
)

// twoPaths makes app referring to lib in st.
func twoPaths(t *testing.T, st *store.Store) (lib, app store.Path) {
	t.Helper()
	lib = buildTestPath(t, st, "lib", map[string]string{"lib/libx.so": strings.Repeat("x", 5000)})
	app = buildTestPath(t, st, "app", map[string]string{"bin/app": strings.Repeat("a", 3000), "bin/lib": "->" + lib.String() + "/lib/libx.so"}, lib)
	return lib, app
}

func TestStoreMissingAndReceive(t *testing.T) {
	src := newTestMachine(t).st
	lib, app := twoPaths(t, src)
	var stream bytes.Buffer
	st, err := src.SendStream(&stream, []store.Path{app, lib})
	if err != nil {
		t.Fatal(err)
	}
	if st.Paths != 2 {
		t.Fatalf("sent %d paths, want 2", st.Paths)
	}
	dst := newTestMachine(t).st
	list := app.String() + "\n" + lib.String() + "\n"
	code, out, errs := runCLIWith(t, strings.NewReader(list), nil, "--store", dst.Dir, "store", "missing")
	if code != ExitOK || out != list {
		t.Fatalf("missing on an empty store: code %d, out %q, err %q; want %q", code, out, errs, list)
	}
	code, _, errs = runCLIWith(t, bytes.NewReader(stream.Bytes()), nil, "--store", dst.Dir, "store", "receive")
	if code != ExitOK || !strings.Contains(errs, "received 2 paths") {
		t.Fatalf("receive: code %d, err %q", code, errs)
	}
	if problems, err := dst.Verify(context.Background()); err != nil || len(problems) > 0 {
		t.Fatalf("verify after receive: %v %v", problems, err)
	}
	code, out, _ = runCLIWith(t, strings.NewReader(list), nil, "--store", dst.Dir, "store", "missing")
	if code != ExitOK || out != "" {
		t.Fatalf("missing after receive: code %d, out %q", code, out)
	}
	// receiving again is harmless: valid paths are skipped
	if code, _, errs := runCLIWith(t, bytes.NewReader(stream.Bytes()), nil, "--store", dst.Dir, "store", "receive"); code != ExitOK {
		t.Fatalf("second receive: %s", errs)
	}
}

// A stream damaged in transit is refused; the damaged path is not
// registered (paths before it, intact, are).
func TestStoreReceiveRefusesDamage(t *testing.T) {
	src := newTestMachine(t).st
	lib, app := twoPaths(t, src)
	var stream bytes.Buffer
	if _, err := src.SendStream(&stream, []store.Path{app, lib}); err != nil {
		t.Fatal(err)
	}
	good := stream.Bytes()
	appContent := bytes.Index(good, []byte("aaaa"))
	trailer := bytes.LastIndex(good, []byte(`{"end"`))
	for _, tc := range []struct {
		name     string
		damage   func([]byte) []byte
		want     string
		libValid bool
	}{
		{"flipped byte in app", func(b []byte) []byte { b[appContent+100] ^= 0x20; return b }, "NAR hash mismatch", true},
		{"cut before the trailer", func(b []byte) []byte { return b[:trailer] }, "after 2 paths: unexpected EOF", true},
		{"cut inside app", func(b []byte) []byte { return b[:appContent+10] }, "unexpected EOF", true},
		{"wrong count", func(b []byte) []byte { return append(b[:trailer], []byte(`{"end":true,"count":3}`+"\n")...) }, "trailer says 3", true},
		{"not a stream", func([]byte) []byte { return []byte("SSH-2.0-hello\n") }, "stream starts with", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := newTestMachine(t).st
			b := tc.damage(bytes.Clone(good))
			code, _, errs := runCLIWith(t, bytes.NewReader(b), nil, "--store", dst.Dir, "store", "receive")
			if code != ExitFailure || !strings.Contains(errs, tc.want) {
				t.Fatalf("code %d, stderr %q; want 1 and %q", code, errs, tc.want)
			}
			if tc.name != "cut before the trailer" && tc.name != "wrong count" && dst.Valid(app) {
				t.Errorf("damaged %s registered", app)
			}
			if dst.Valid(lib) != tc.libValid {
				t.Errorf("lib valid = %v, want %v", dst.Valid(lib), tc.libValid)
			}
		})
	}
}
