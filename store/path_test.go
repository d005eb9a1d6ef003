package store

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// Nix prints sha1("abc") as kpcd173cq987hw957sx6m0868wv3x6d9 in base 32.
func TestNix32MatchesNix(t *testing.T) {
	b, _ := hex.DecodeString("a9993e364706816aba3e25717850c26c9cd0d89d")
	if got, want := nix32(b), "kpcd173cq987hw957sx6m0868wv3x6d9"; got != want {
		t.Fatalf("nix32 = %s, want %s", got, want)
	}
}

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"/kiln/store/kpcd173cq987hw957sx6m0868wv3x6d9-hello-1.0", true},
		{"kpcd173cq987hw957sx6m0868wv3x6d9-hello", true},
		{"/kiln/store/kpcd173cq987hw957sx6m0868wv3x6d9-hello/bin/x", false},
		{"/kiln/store/kpcd173cq987hw957sx6m0868wv3x6deh-hello", false}, // 'e' not nix32... and 'h' fine
		{"/kiln/store/kpcd173cq987hw957sx6m0868wv3x6d9-.hidden", false},
		{"/kiln/store/kpcd173cq987hw957sx6m0868wv3x6d9-", false},
		{"/kiln/store/short-hello", false},
		{"/kiln/store/kpcd173cq987hw957sx6m0868wv3x6d9-a b", false},
	} {
		p, err := ParsePath(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePath(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && p.Base()[:HashLen] != p.Hash() {
			t.Errorf("ParsePath(%q) = %v: base and hash disagree", tc.in, p)
		}
	}
}

func TestKeyIsLengthPrefixed(t *testing.T) {
	a, _ := NewKey("t/1").Add("ab", "c").Path("x")
	b, _ := NewKey("t/1").Add("a", "bc").Path("x")
	if a == b {
		t.Fatalf("keys with shifted fields gave the same path %v", a)
	}
	c, _ := NewKey("t/1").Add("ab", "c").Path("x")
	if a != c {
		t.Fatalf("equal keys gave %v and %v", a, c)
	}
	if _, err := ParsePath(a.String()); err != nil {
		t.Fatalf("Key.Path made an unparsable path: %v", err)
	}
}

func TestFormatAndCheckHash(t *testing.T) {
	sum := sha256.Sum256(nil)
	// nix-hash --type sha256 --to-base32 of the empty string's digest
	const want = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
	if got := FormatHash(sum[:]); got != want {
		t.Errorf("FormatHash = %s, want %s", got, want)
	}
	if err := CheckHash(want); err != nil {
		t.Errorf("CheckHash(%s) = %v", want, err)
	}
	for _, bad := range []string{"", "sha256:", "md5:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
		"sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"} {
		if CheckHash(bad) == nil {
			t.Errorf("CheckHash(%q) = nil, want an error", bad)
		}
	}
}
