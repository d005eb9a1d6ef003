package store

import (
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
