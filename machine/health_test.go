package machine

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/toplevel"
)

// setBootCount writes LoaderBootCountPath as systemd-boot does (4 bytes
// of attributes, UTF-16LE, NUL-terminated); "" removes it.
func (m testMachine) setBootCount(t *testing.T, entry string) {
	t.Helper()
	p := filepath.Join(m.Root, LoaderBootCountPathVar)
	if entry == "" {
		os.Remove(p)
		return
	}
	b := []byte{6, 0, 0, 0}
	for _, c := range utf16.Encode([]rune(`\loader\entries\` + entry + "\x00")) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (m testMachine) entries(t *testing.T) string {
	t.Helper()
	des, _ := os.ReadDir(filepath.Join(m.ESP(), boot.EntriesDir))
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return strings.Join(names, " ")
}

func (m testMachine) rename(t *testing.T, from, to string) {
	t.Helper()
	dir := filepath.Join(m.ESP(), boot.EntriesDir)
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		t.Fatal(err)
	}
}

// A generation that fails its checks at boot: the counted boot reboots
// while tries are left and while another generation can boot; once
// systemd-boot fell back, the booted generation becomes current again.
func TestFallback(t *testing.T) {
	ctx := context.Background()
	m := newMachine(t)
	loader := &toplevel.Loader{Timeout: 1, BootCountingTries: 2}
	good := m.toplevel(t, "good", loader)
	bad := m.toplevel(t, "bad", &toplevel.Loader{Timeout: 1, BootCountingTries: 2, ConsoleMode: "max"})
	if _, err := m.Switch(ctx, good, true); err != nil {
		t.Fatal(err)
	}
	m.rename(t, "kiln-generation-1+2.conf", "kiln-generation-1.conf") // blessed
	if _, err := m.Switch(ctx, bad, true); err != nil {
		t.Fatal(err)
	}
	if got, want := m.entries(t), "kiln-generation-1.conf kiln-generation-2+2.conf"; got != want {
		t.Fatalf("entries %s, want %s", got, want)
	}
	decide := func(want string, reboot bool) {
		t.Helper()
		fb, err := m.DecideFallback()
		if err != nil {
			t.Fatal(err)
		}
		if fb.Reboot != reboot || !strings.Contains(fb.Why, want) {
			t.Errorf("fallback %+v, want reboot %v and %q", fb, reboot, want)
		}
	}
	decide("not counted", false)
	m.rename(t, "kiln-generation-2+2.conf", "kiln-generation-2+1-1.conf")
	m.setBootCount(t, "kiln-generation-2+1-1.conf")
	decide("generation 2 has 1 try left", true)
	m.rename(t, "kiln-generation-2+1-1.conf", "kiln-generation-2+0-2.conf")
	m.setBootCount(t, "kiln-generation-2+0-2.conf")
	decide("rebooting into generation 1", true)
	gens, _ := m.Generations()
	if gens[1].Boot != boot.EntryBad || gens[0].Boot != boot.EntryGood {
		t.Errorf("boot states %s %s, want good bad", gens[0].Boot, gens[1].Boot)
	}

	// systemd-boot booted generation 1.
	m.setBootCount(t, "")
	os.Symlink(good.String(), filepath.Join(m.Root, "run", "booted-system"))
	n, err := m.SettleFallback(ctx)
	if err != nil || n != 1 {
		t.Fatalf("settle: %d, %v; want 1", n, err)
	}
	if got := m.loaderConf(t); !strings.Contains(got, "default kiln-generation-1.conf\n") {
		t.Errorf("loader.conf after the fallback:\n%s", got)
	}
	if n, err := m.SettleFallback(ctx); err != nil || n != 0 {
		t.Errorf("a second settle: %d, %v; want nothing", n, err)
	}

	// The only entry is bad: stay up.
	lone := newMachine(t)
	if _, err := lone.Switch(ctx, lone.toplevel(t, "bad", loader), true); err != nil {
		t.Fatal(err)
	}
	lone.rename(t, "kiln-generation-1+2.conf", "kiln-generation-1+0-3.conf")
	lone.setBootCount(t, "kiln-generation-1+0-3.conf")
	fb, err := lone.DecideFallback()
	if err != nil || fb.Reboot || !strings.Contains(fb.Why, "no other generation") {
		t.Errorf("lone bad entry: %+v, %v", fb, err)
	}
}
