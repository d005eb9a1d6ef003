package debian

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/fsutil"
)

func TestLoadFixture(t *testing.T) {
	f := newFixture(t)
	a := f.archive(t)
	var warnings []string
	a.Warnf = func(format string, args ...any) { warnings = append(warnings, format) }
	a.Now = func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
	u, inputs, err := a.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 3 {
		t.Errorf("got %d warnings, want one expired Valid-Until per suite: %q", len(warnings), warnings)
	}
	if u.Len() != 3 {
		t.Errorf("got %d candidates, want 3", u.Len())
	}
	in := inputs["bookworm"]
	if in.Locked.Date != "2026-11-21T08:00:00Z" || len(in.Locked.InReleaseSHA256) != 64 || len(in.Locked.PackagesSHA256["main"]) != 64 {
		t.Errorf("locked input %+v", in.Locked)
	}
	if d := cmp.Diff(Original{Suite: "bookworm", Components: []string{"main"}, Arch: "amd64"}, in.Original); d != "" {
		t.Errorf("original (-want +got):\n%s", d)
	}
	// The index is cached by its digest: a second Load reads it from there
	// even when the mirror's copy is gone.
	os.Remove(f.file("dists/bookworm/main/binary-amd64/Packages.xz"))
	if _, _, err := a.Load(context.Background()); err != nil {
		t.Errorf("second Load, index cached: %v", err)
	}
}

func TestLoadRefusesBadInput(t *testing.T) {
	other, err := openpgp.NewEntity("someone else", "", "other@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	release := func(f *fixture) string {
		data, err := os.ReadFile(f.file("dists/bookworm/InRelease"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	tests := []struct {
		name    string
		break_  func(t *testing.T, f *fixture)
		wantErr error
		errHas  string
	}{
		{"signed by an unknown key", func(t *testing.T, f *fixture) {
			f.writeInRelease(t, "bookworm", "Date: Sat, 21 Nov 2026 08:00:00 UTC\nSHA256:\n 00 1 x\n", other)
		}, ErrBadSignature, "InRelease of bookworm"},
		{"signed text changed", func(t *testing.T, f *fixture) {
			s := strings.Replace(release(f), "Suite: bookworm", "Suite: bookwormX", 1)
			os.WriteFile(f.file("dists/bookworm/InRelease"), []byte(s), 0o644)
		}, ErrBadSignature, "InRelease of bookworm"},
		{"not signed at all", func(t *testing.T, f *fixture) {
			os.WriteFile(f.file("dists/bookworm/InRelease"), []byte("Suite: bookworm\nDate: Sat, 21 Nov 2026 08:00:00 UTC\n"), 0o644)
		}, ErrBadSignature, "not a clearsigned message"},
		{"missing", func(t *testing.T, f *fixture) {
			os.Remove(f.file("dists/bookworm-security/InRelease"))
		}, errNotFound, "fetch InRelease of bookworm-security"},
		{"Packages does not match its digest", func(t *testing.T, f *fixture) {
			p := f.file("dists/bookworm/main/binary-amd64/Packages.xz")
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 1
			os.WriteFile(p, data, 0o644)
		}, ErrDigestMismatch, "Packages.xz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.break_(t, f)
			a := f.archive(t)
			_, _, err := a.Load(context.Background())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("error %q lacks %q", err, tc.errHas)
			}
			// Whatever was cached is intact: each file's name is its digest.
			cached, _ := filepath.Glob(filepath.Join(a.CacheDir, "indices", "*"))
			for _, c := range cached {
				if sum, err := fsutil.SHA256(c); err != nil || sum != filepath.Base(c) {
					t.Errorf("cached index %s has sha256 %s (%v)", c, sum, err)
				}
			}
		})
	}
}
