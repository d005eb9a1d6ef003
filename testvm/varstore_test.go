package testvm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"github.com/kiln-os/kiln/internal/testenv"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/golden"
)

const ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"

// syntheticVars builds a small VARS image laid out like OVMF's: a firmware
// volume header with a one-entry block map, then an authenticated (or
// plain) variable store header, the rest erased flash (0xFF).
func syntheticVars(t *testing.T, size int, auth bool) []byte {
	t.Helper()
	img := bytes.Repeat([]byte{0xFF}, size)
	clear(img[:0x48])
	copy(img[16:32], systemNVDataFVGUID[:])
	binary.LittleEndian.PutUint64(img[32:40], uint64(size))
	copy(img[40:44], "_FVH")
	binary.LittleEndian.PutUint32(img[44:48], 0x0004feff)
	binary.LittleEndian.PutUint16(img[48:50], 0x48) // header length
	img[55] = 2                                     // revision
	binary.LittleEndian.PutUint32(img[56:60], uint32(size/0x1000))
	binary.LittleEndian.PutUint32(img[60:64], 0x1000)
	binary.LittleEndian.PutUint16(img[50:52], -checksum16(img[:0x48]))
	vs := img[0x48:]
	sig := plainVariableGUID
	if auth {
		sig = authVariableGUID
	}
	copy(vs[0:16], sig[:])
	binary.LittleEndian.PutUint32(vs[16:20], uint32(size/2-0x48))
	vs[20], vs[21] = varStoreFormated, varStoreHealthy
	clear(vs[22:28])
	return img
}

func TestGUIDRoundTrip(t *testing.T) {
	for _, s := range []string{"4a67b082-0a4c-41cf-b6c7-440b29bb8c4f", "8be4df61-93ca-11d2-aa0d-00e098032b8c"} {
		g, err := ParseGUID(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.String(); got != s {
			t.Errorf("ParseGUID(%q).String() = %q", s, got)
		}
	}
	// The on-disk order of OVMF's own store signature, read from the file.
	if got := authVariableGUID[:4]; !bytes.Equal(got, []byte{0x78, 0x2c, 0xf3, 0xaa}) {
		t.Errorf("auth variable GUID starts % x, want 78 2c f3 aa", got)
	}
	for _, bad := range []string{"", "4a67b082", "4a67b082-0a4c-41cf-b6c7-440b29bb8c4g"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) succeeded", bad)
		}
	}
}

func TestOneShotEntryEncoding(t *testing.T) {
	v := OneShotEntry(GenerationEntry(3))
	want := []byte("k\x00i\x00l\x00n\x00-\x00g\x00e\x00n\x00e\x00r\x00a\x00t\x00i\x00o\x00n\x00-\x003\x00.\x00c\x00o\x00n\x00f\x00\x00\x00")
	if !bytes.Equal(v.Data, want) {
		t.Errorf("data = % x, want % x", v.Data, want)
	}
	if v.Attributes != 7 || v.Vendor.String() != "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f" {
		t.Errorf("attributes %#x vendor %v", v.Attributes, v.Vendor)
	}
}

// TestVarStoreGolden writes a one-shot entry, replaces it and adds a
// second variable into a synthetic store, and compares the used part of
// the image with a golden hex dump.
func TestVarStoreGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth bool
	}{{"authenticated", true}, {"plain", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseVarStore(syntheticVars(t, 0x4000, tc.auth))
			if err != nil {
				t.Fatal(err)
			}
			steps := []Variable{
				OneShotEntry(GenerationEntry(1)),
				{Name: "Timeout", Vendor: GlobalVariableGUID, Attributes: 7, Data: []byte{5, 0}},
				OneShotEntry(GenerationEntry(12)),
			}
			for _, v := range steps {
				if err := s.Set(v); err != nil {
					t.Fatal(err)
				}
			}
			_, free, err := s.entries()
			if err != nil {
				t.Fatal(err)
			}
			got := []byte(hex.Dump(s.Bytes()[:free]))
			golden.Check(t, filepath.Join("testdata", "varstore-"+tc.name+".golden"), got)
			if rest := s.Bytes()[free:]; bytes.Count(rest, []byte{0xFF}) != len(rest) {
				t.Errorf("bytes after the last variable are not erased flash")
			}
		})
	}
}

// TestVarStoreOVMF edits a copy of the installed OVMF VARS image and reads
// it back through a fresh parse.
func TestVarStoreOVMF(t *testing.T) {
	orig, err := os.ReadFile(ovmfVars)
	if err != nil {
		testenv.SkipOrFail(t, "no OVMF vars image: %v", err)
	}
	path := filepath.Join(t.TempDir(), "vars.fd")
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := ReadVariablesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 7, 1} {
		if err := SetVariableFile(path, OneShotEntry(GenerationEntry(n))); err != nil {
			t.Fatal(err)
		}
	}
	after, err := ReadVariablesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]Variable{}, before...), OneShotEntry(GenerationEntry(1)))
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("variables after three sets (-want +got):\n%s", diff)
	}
	img, _ := os.ReadFile(path)
	if len(img) != len(orig) {
		t.Fatalf("image size changed: %d → %d", len(orig), len(img))
	}
	if !bytes.Equal(img[:0x64], orig[:0x64]) || !bytes.Equal(img[0x40000:], orig[0x40000:]) {
		t.Errorf("headers or the fault-tolerant-write area changed")
	}
	s, err := ParseVarStore(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("LoaderEntryOneShot", LoaderVendorGUID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get("LoaderEntryOneShot", LoaderVendorGUID); ok {
		t.Errorf("variable still present after Delete")
	}
	if err := s.Delete("LoaderEntryOneShot", LoaderVendorGUID); err == nil {
		t.Errorf("second Delete succeeded")
	}
}

func TestVarStoreFull(t *testing.T) {
	s, err := ParseVarStore(syntheticVars(t, 0x2000, true))
	if err != nil {
		t.Fatal(err)
	}
	big := Variable{Name: "Big", Vendor: LoaderVendorGUID, Attributes: 7, Data: make([]byte, 0x500)}
	var err2 error
	n := 0
	for ; n < 10 && err2 == nil; n++ {
		err2 = s.Set(big)
	}
	if err2 == nil || n < 2 {
		t.Fatalf("after %d sets: err = %v, want a full store after a few", n, err2)
	}
	if v, ok, _ := s.Get("Big", LoaderVendorGUID); !ok || len(v.Data) != 0x500 {
		t.Errorf("last successful value lost after a failed Set")
	}
}

func TestParseVarStoreRejects(t *testing.T) {
	good := syntheticVars(t, 0x2000, true)
	for _, tc := range []struct {
		name  string
		patch func(b []byte)
	}{
		{"short", nil},
		{"no FV signature", func(b []byte) { b[40] = 'X' }},
		{"bad checksum", func(b []byte) { b[50]++ }},
		{"unknown store GUID", func(b []byte) { b[0x48]++ }},
		{"not healthy", func(b []byte) { b[0x48+21] = 0xFF }},
		{"store larger than volume", func(b []byte) { binary.LittleEndian.PutUint32(b[0x48+16:], 0x100000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			if tc.patch == nil {
				b = b[:40]
			} else {
				tc.patch(b)
			}
			if _, err := ParseVarStore(b); err == nil {
				t.Errorf("ParseVarStore accepted a broken image")
			}
		})
	}
}
