package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/golden"
)

func goldenRecord(t *testing.T) Info {
	t.Helper()
	p, _ := ParsePath("/kiln/store/kpcd173cq987hw957sx6m0868wv3x6d9-hello-1.0")
	dep, _ := ParsePath("/kiln/store/0lx9m0s5w5ljh8gyj3ilbpisw6vjyv7b-libc6-2.36")
	return Info{Path: p, Refs: []Path{dep, p}, NarHash: "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", NarSize: 4242,
		Registered: time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)}
}

// The validity record is an on-disk contract: its bytes only change on
// purpose (go test -update), and records of every version stay readable.
func TestRecordGolden(t *testing.T) {
	s := openTest(t)
	info := goldenRecord(t)
	if err := s.register(info); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(s.recordFile(info.Path))
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "record-v1.json"), got)
	r, err := s.readRecord(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	if gb, _ := json.Marshal(r.Info); string(gb) != mustJSON(t, info) {
		t.Errorf("read back %s, want %s", gb, mustJSON(t, info))
	}
}

func TestRecordVersions(t *testing.T) {
	info := goldenRecord(t)
	for _, tc := range []struct {
		name, old, new, wantErr string
	}{
		{"v1", "", "", ""},
		{"future", `"version": 1`, `"version": 99`, "version 99 not supported"},
		{"none", `"version": 1`, `"version": 0`, "version 0 not supported"},
		{"other path", `"path": "/kiln/store/kpcd`, `"path": "/kiln/store/0pcd`, "records"},
		{"garbage", `"version": 1`, `}`, "parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			b, _ := os.ReadFile(filepath.Join("testdata", "record-v1.json"))
			text := strings.Replace(string(b), tc.old, tc.new, 1)
			os.WriteFile(s.recordFile(info.Path), []byte(text), 0o644)
			_, err := s.readRecord(info.Path)
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("readRecord: %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
