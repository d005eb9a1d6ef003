package cache

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/store"
)

func mustPath(t testing.TB, s string) store.Path {
	t.Helper()
	p, err := store.ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testNarInfo is a fixed narinfo: references unsorted and one to itself,
// as a path that links to its own files has.
func testNarInfo(t testing.TB) *NarInfo {
	self := mustPath(t, "/kiln/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10")
	return &NarInfo{
		StorePath:   self,
		URL:         "nar/15zk4zszw9lgkdkkwy7w11m5vag11n5dhv2i6hj308qpxczvdddx.nar.zst",
		Compression: CompressionZstd,
		FileHash:    "sha256:15zk4zszw9lgkdkkwy7w11m5vag11n5dhv2i6hj308qpxczvdddx",
		FileSize:    41232,
		NarHash:     "sha256:1mi14cqk363wv368ffiiy01knardmnlyphi6h9xv6dkjz44hk30i",
		NarSize:     205968,
		References:  []store.Path{self, mustPath(t, "9df65igwjmf2wbw0gbrrgair6piqjgmi-glibc-2.31")},
	}
}

func TestNarInfoGolden(t *testing.T) {
	n := testNarInfo(t)
	if got, want := n.Fingerprint(), "1;/kiln/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10;sha256:1mi14cqk363wv368ffiiy01knardmnlyphi6h9xv6dkjz44hk30i;205968;/kiln/store/9df65igwjmf2wbw0gbrrgair6piqjgmi-glibc-2.31,/kiln/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10"; got != want {
		t.Errorf("Fingerprint:\n got %s\nwant %s", got, want)
	}
	n.Sign(testKey(t, "cache.example.org-1", 7))
	n.Sign(testKey(t, "other-1", 8))
	n.Sign(testKey(t, "cache.example.org-1", 7)) // replaces, does not add
	text := n.Marshal()
	golden.Check(t, "testdata/signed.narinfo", text)

	back, err := ParseNarInfo(text, "signed.narinfo")
	if err != nil {
		t.Fatal(err)
	}
	want := *n
	want.References = sortedRefs(n.References)
	if diff := cmp.Diff(&want, back, cmp.Comparer(func(a, b store.Path) bool { return a == b })); diff != "" {
		t.Errorf("ParseNarInfo(Marshal()) differs (-want +got):\n%s", diff)
	}
	if err := back.Verify([]PublicKey{testKey(t, "cache.example.org-1", 7).Public()}); err != nil {
		t.Errorf("Verify after a round trip: %v", err)
	}
}

// Each change to a signed field, and each wrong key, is refused.
func TestNarInfoVerifyRefuses(t *testing.T) {
	k := testKey(t, "cache.example.org-1", 7)
	trusted := []PublicKey{k.Public()}
	signed := func() *NarInfo { n := testNarInfo(t); n.Sign(k); return n }
	for _, tc := range []struct {
		name    string
		change  func(n *NarInfo)
		trusted []PublicKey
		want    error
	}{
		{"intact", func(*NarInfo) {}, trusted, nil},
		{"unsigned fields changed (URL, FileHash)", func(n *NarInfo) { n.URL = "nar/x.nar.zst"; n.FileHash = n.NarHash }, trusted, nil},
		{"changed NarHash", func(n *NarInfo) { n.NarHash = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73" }, trusted, ErrBadSignature},
		{"changed NarSize", func(n *NarInfo) { n.NarSize++ }, trusted, ErrBadSignature},
		{"reference added", func(n *NarInfo) {
			n.References = append(n.References, mustPath(t, "0123456789abcdfghijklmnpqrsvwxyz-evil"))
		}, trusted, ErrBadSignature},
		{"reference removed", func(n *NarInfo) { n.References = n.References[:1] }, trusted, ErrBadSignature},
		{"other store path", func(n *NarInfo) { n.StorePath = mustPath(t, "0123456789abcdfghijklmnpqrsvwxyz-hello-2.10") }, trusted, ErrBadSignature},
		{"wrong key of the same name", func(*NarInfo) {}, []PublicKey{testKey(t, "cache.example.org-1", 9).Public()}, ErrBadSignature},
		{"unknown key", func(*NarInfo) {}, []PublicKey{testKey(t, "other-1", 7).Public()}, ErrUntrusted},
		{"no trusted keys", func(*NarInfo) {}, nil, ErrUntrusted},
		{"unsigned", func(n *NarInfo) { n.Sigs = nil }, trusted, ErrUnsigned},
		{"signature not base64", func(n *NarInfo) { n.Sigs = []string{"cache.example.org-1:%%%"} }, trusted, ErrBadSignature},
		{"a junk signature beside a good one", func(n *NarInfo) { n.Sigs = append([]string{"other-1:AAAA"}, n.Sigs...) }, trusted, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := signed()
			tc.change(n)
			// Through the text form, as a cache serves it.
			back, err := ParseNarInfo(n.Marshal(), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			err = back.Verify(tc.trusted)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseNarInfoErrors(t *testing.T) {
	good := string(testNarInfo(t).Marshal())
	for _, tc := range []struct{ name, text, want string }{
		{"missing StorePath", strings.Replace(good, "StorePath:", "Storepath:", 1), "x.narinfo: no StorePath"},
		{"missing NarHash", strings.Replace(good, "NarHash:", "X-NarHash:", 1), "no NarHash"},
		{"twice", good + "NarSize: 5\n", "x.narinfo:9: NarSize given twice"},
		{"not key value", "StorePath /kiln/store/x\n", "x.narinfo:1: \"StorePath /kiln/store/x\" is not Key: value"},
		{"a Nix store path", strings.Replace(good, "/kiln/store/", "/nix/store/", 1), "not directly under /kiln/store"},
		{"hex NarHash", strings.Replace(good, "sha256:1mi14cqk363wv368ffiiy01knardmnlyphi6h9xv6dkjz44hk30i", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 1), "x.narinfo:6: NarHash"},
		{"negative size", strings.Replace(good, "NarSize: 205968", "NarSize: -1", 1), "x.narinfo:7: NarSize: \"-1\" is not a positive number"},
		{"reference with a directory", strings.Replace(good, "References: ", "References: /kiln/store/", 1), "is not a store path's base name"},
		{"URL leaving the cache", strings.Replace(good, "URL: nar/", "URL: ../", 1), "not a path relative to the cache"},
		{"absolute URL", strings.Replace(good, "URL: nar/", "URL: https://elsewhere/", 1), "not a path relative to the cache"},
		{"signature without a name", good + "Sig: AAAA\n", "is not NAME:BASE64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNarInfo([]byte(tc.text), "x.narinfo")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseNarInfo = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Nix's fields kiln does not use are ignored; Compression defaults as in Nix.
	text := strings.Replace(good, "Compression: zstd\n", "", 1) + "Deriver: x.drv\nSystem: x86_64-linux\nCA: fixed:r:sha256:abc\n"
	n, err := ParseNarInfo([]byte(text), "nix.narinfo")
	if err != nil || n.Compression != "bzip2" {
		t.Fatalf("ParseNarInfo of a narinfo with Nix's extra fields = %+v, %v", n, err)
	}
}

func TestCacheInfo(t *testing.T) {
	text := Info{StoreDir: store.LogicalDir, Priority: 40, Version: cacheVersion}.marshal()
	golden.Check(t, "testdata/nix-cache-info", text)
	for _, tc := range []struct{ name, text, want string }{
		{"kiln's", string(text), ""},
		{"Nix-made for /kiln/store", "StoreDir: /kiln/store\n", ""},
		{"a Nix store", "StoreDir: /nix/store\nWantMassQuery: 1\n", `is a cache for the store "/nix/store", not /kiln/store`},
		{"newer layout", "StoreDir: /kiln/store\nKilnCache: 2\n", "has layout version 2; this kiln reads 1 to 1"},
		{"bad version", "StoreDir: /kiln/store\nKilnCache: one\n", `KilnCache "one" is not a version`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCacheInfo([]byte(tc.text), "c/nix-cache-info")
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("parseCacheInfo = %v, want %q", err, tc.want)
			}
		})
	}
}
