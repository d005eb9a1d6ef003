package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// ErrESPFull reports an ESP without room for a plan's new files.
var ErrESPFull = errors.New("not enough free space on the ESP")

// ApplyESP makes the ESP mounted (or staged) at espRoot hold plan. src maps
// a logical store path to the host file to read (nil: the path itself).
//
// The order keeps the ESP bootable whatever happens: unreferenced entries
// go first, then unreferenced kernels and initrds; free space is checked
// before anything is copied; kernels and initrds are copied before the
// boot loader, the entries and finally loader.conf are replaced, each
// written to a temporary file, fsynced and renamed into place
// (internal/fsutil).
func ApplyESP(ctx context.Context, espRoot string, plan ESPPlan, src func(logical string) string) error {
	if src == nil {
		src = func(s string) string { return s }
	}
	if err := deleteUnreferenced(espRoot, plan.Delete); err != nil {
		return err
	}
	writes := orderWrites(plan.Files)
	if err := checkSpace(espRoot, plan.Files, writes, src); err != nil {
		return err
	}
	for _, name := range writes {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("install esp: %w", err)
		}
		f := plan.Files[name]
		dst := filepath.Join(espRoot, filepath.FromSlash(name))
		data := f.Data
		if f.Source != "" {
			b, err := os.ReadFile(src(f.Source))
			if err != nil {
				return fmt.Errorf("install esp %s: %w", name, err)
			}
			data = b
		}
		if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("install esp %s: %w", name, err)
		}
		if err := fsutil.WriteFile(dst, data, 0o644); err != nil {
			return fmt.Errorf("install esp %s: %w", name, err)
		}
	}
	return nil
}

// orderWrites returns the names of the files to write, in the order that
// keeps the ESP consistent; kept content-addressed files are left out.
func orderWrites(files map[string]ESPFile) []string {
	rank := func(name string) int {
		switch {
		case strings.HasPrefix(name, KilnDir+"/"):
			return 0
		case strings.HasPrefix(name, "EFI/"):
			return 1
		case name == LoaderConf:
			return 4
		case strings.HasPrefix(name, EntriesDir+"/"):
			return 2
		}
		return 3
	}
	var names []string
	for n, f := range files {
		if !f.Keep {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := rank(names[i]), rank(names[j])
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return names
}

func deleteUnreferenced(espRoot string, del []string) error {
	entriesFirst := append([]string(nil), del...)
	sort.SliceStable(entriesFirst, func(i, j int) bool {
		return strings.HasPrefix(entriesFirst[i], "loader/") && !strings.HasPrefix(entriesFirst[j], "loader/")
	})
	dirs := map[string]bool{}
	for _, name := range entriesFirst {
		if path.IsAbs(name) || strings.Contains("/"+name+"/", "/../") {
			return fmt.Errorf("clean esp: bad path %q", name)
		}
		p := filepath.Join(espRoot, filepath.FromSlash(name))
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("clean esp: %w", err)
		}
		dirs[filepath.Dir(p)] = true
	}
	return syncDirs(dirs)
}

// checkSpace fails when the files to write do not fit in the free space.
// Each file is rounded up to 4 KiB, the largest FAT cluster kiln makes.
func checkSpace(espRoot string, files map[string]ESPFile, writes []string, src func(string) string) error {
	var need int64
	for _, name := range writes {
		f := files[name]
		size := int64(len(f.Data))
		if f.Source != "" {
			fi, err := os.Stat(src(f.Source))
			if err != nil {
				return fmt.Errorf("install esp %s: %w", name, err)
			}
			size = fi.Size()
		}
		need += (size + 4095) &^ 4095
	}
	var st unix.Statfs_t
	if err := unix.Statfs(espRoot, &st); err != nil {
		return fmt.Errorf("statfs esp %s: %w", espRoot, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if need > free {
		return fmt.Errorf("%w %s: %d bytes needed, %d free (lower bootloader max_generations or remove old generations)", ErrESPFull, espRoot, need, free)
	}
	return nil
}

func syncDirs(dirs map[string]bool) error {
	for d := range dirs {
		if err := fsutil.SyncDir(d); err != nil {
			return fmt.Errorf("sync esp dir: %w", err)
		}
	}
	return nil
}
