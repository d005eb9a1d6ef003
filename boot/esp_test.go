package boot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
)

// fakeStore writes the files gens and cfg refer to under a temporary
// physical store and returns the src function mapping logical paths to it.
func fakeStore(t *testing.T, gens []Generation, cfg LoaderConfig) func(string) string {
	t.Helper()
	root := t.TempDir()
	src := func(logical string) string { return filepath.Join(root, logical) }
	files := []string{cfg.SystemdBoot}
	for _, g := range gens {
		files = append(files, g.Kernel, g.Initrd)
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(src(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(src(f), []byte("content of "+f), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

func TestApplyESP(t *testing.T) {
	ctx := context.Background()
	esp := t.TempDir()
	cfg := LoaderConfig{Timeout: 1, SystemdBoot: efiPath, MaxGenerations: 2}
	all := []Generation{gen(1, kernelA), gen(2, kernelA), gen(3, kernelB)}
	src := fakeStore(t, all, cfg)
	os.MkdirAll(filepath.Join(esp, "EFI/debian"), 0o755)
	os.WriteFile(filepath.Join(esp, "EFI/debian/grubx64.efi"), []byte("other"), 0o644)

	for i := 1; i <= len(all); i++ {
		plan, err := PlanESP(all[:i], i, cfg, os.DirFS(esp))
		if err != nil {
			t.Fatal(err)
		}
		if err := ApplyESP(ctx, esp, plan, src); err != nil {
			t.Fatalf("generation %d: %v", i, err)
		}
	}
	got := listTree(t, esp)
	want := []string{
		"EFI/BOOT/BOOTX64.EFI",
		"EFI/debian/grubx64.efi",
		"EFI/kiln/1111111111111111111111111111111a-vmlinuz-6.1.0-56-cloud-amd64",
		"EFI/kiln/1111111111111111111111111111111b-vmlinuz-6.1.0-57-cloud-amd64",
		"EFI/kiln/" + strings.Repeat("n", 32) + "-initrd",
		"EFI/kiln/" + strings.Repeat("p", 32) + "-initrd",
		"EFI/systemd/systemd-bootx64.efi",
		"loader/entries.srel",
		"loader/entries/kiln-generation-2.conf",
		"loader/entries/kiln-generation-3.conf",
		"loader/loader.conf",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ESP holds:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	k, _ := os.ReadFile(filepath.Join(esp, "EFI/kiln/1111111111111111111111111111111b-vmlinuz-6.1.0-57-cloud-amd64"))
	if string(k) != "content of "+kernelB {
		t.Errorf("kernel copied wrong: %q", k)
	}

	out := testenv.BootctlList(t, esp)
	for _, w := range []string{"id: kiln-generation-3.conf", "id: kiln-generation-2.conf", "(default)",
		"version: Generation 3 kiln 0.1.0", "linux: /EFI/kiln/1111111111111111111111111111111b-vmlinuz-6.1.0-57-cloud-amd64"} {
		if !strings.Contains(out, w) {
			t.Errorf("bootctl list lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "kiln-generation-1") || strings.Contains(out, "No such file") {
		t.Errorf("bootctl list shows a dropped generation or a missing file:\n%s", out)
	}
	// The newest generation is listed first (sort-key, then version descending).
	if strings.Index(out, "kiln-generation-3") > strings.Index(out, "kiln-generation-2") {
		t.Errorf("generation 3 is not listed first:\n%s", out)
	}
}

func TestApplyESPNoSpace(t *testing.T) {
	esp := t.TempDir()
	cfg := LoaderConfig{SystemdBoot: efiPath}
	g1, g2 := gen(1, kernelA), gen(2, kernelB)
	src := fakeStore(t, []Generation{g1, g2}, cfg)
	plan, err := PlanESP([]Generation{g1}, 1, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyESP(context.Background(), esp, plan, src); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, esp)
	// A kernel larger than any disk here (sparse, nothing is read).
	if err := os.Truncate(src(kernelB), 1<<43); err != nil {
		t.Fatal(err)
	}
	plan, err = PlanESP([]Generation{g1, g2}, 2, cfg, os.DirFS(esp))
	if err != nil {
		t.Fatal(err)
	}
	err = ApplyESP(context.Background(), esp, plan, src)
	if !errors.Is(err, ErrESPFull) || !strings.Contains(err.Error(), "bytes needed") {
		t.Fatalf("got %v, want ErrESPFull naming the bytes", err)
	}
	if after := listTree(t, esp); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("a failed install changed the ESP:\n%v\nwas:\n%v", after, before)
	}
	conf, _ := os.ReadFile(filepath.Join(esp, LoaderConf))
	if !strings.Contains(string(conf), "default kiln-generation-1.conf") {
		t.Errorf("loader.conf lost its default:\n%s", conf)
	}
}

func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
