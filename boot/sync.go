// Package boot writes what a kiln system needs to boot: the initrd (a
// deterministic newc cpio archive holding the stage-1 init and the kernel
// modules the root device needs), systemd-boot Type #1 entries and
// loader.conf for every generation, and the synchronisation of an EFI
// System Partition with them. It reads the generations' bootspecs
// (toplevel.Bootspec, the contract between a toplevel and the boot
// loader).
//
// It does not build toplevels (package system does), does not run stage 1
// (package boot/stage1), does not decide when the ESP is rewritten
// (package machine does) and does not write disk images (package image).
package boot

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/toplevel"

	"github.com/kiln-os/kiln/store"
)

// ProfileGenerations reads the bootspec of every generation of profile in
// st, oldest first, with kernels and initrds resolved to the store paths
// holding them (see ResolveLogical), and returns the current generation's
// number.
func ProfileGenerations(st *store.Store, profile string) (gens []Generation, current int, err error) {
	sgens, err := st.Generations(profile)
	if err != nil {
		return nil, 0, err
	}
	for _, g := range sgens {
		bs, err := toplevel.ReadBootspec(filepath.Join(st.Physical(g.Path), "boot.json"))
		if err != nil {
			return nil, 0, fmt.Errorf("generation %d of %s: %w", g.N, profile, err)
		}
		if bs.Kernel, err = ResolveLogical(st, bs.Kernel); err != nil {
			return nil, 0, fmt.Errorf("generation %d of %s: kernel: %w", g.N, profile, err)
		}
		if bs.Initrd, err = ResolveLogical(st, bs.Initrd); err != nil {
			return nil, 0, fmt.Errorf("generation %d of %s: initrd: %w", g.N, profile, err)
		}
		gens = append(gens, GenerationFromBootspec(g.N, bs, g.Created))
		if g.Current {
			current = g.N
		}
	}
	if current == 0 {
		return nil, 0, fmt.Errorf("profile %s has no current generation", profile)
	}
	return gens, current, nil
}

// SyncESP makes the ESP mounted at espRoot boot gens, current by default:
// it plans against what the ESP holds now and applies the plan, reading
// store files from st. It returns the plan it applied.
func SyncESP(ctx context.Context, st *store.Store, espRoot string, gens []Generation, current int, cfg LoaderConfig) (ESPPlan, error) {
	plan, err := PlanESP(gens, current, cfg, os.DirFS(espRoot))
	if err != nil {
		return ESPPlan{}, fmt.Errorf("sync esp %s: %w", espRoot, err)
	}
	src := func(logical string) string { return Physical(st, logical) }
	if err := ApplyESP(ctx, espRoot, plan, src); err != nil {
		return ESPPlan{}, err
	}
	return plan, nil
}

// Physical maps a logical path under /kiln/store to where st keeps it.
func Physical(st *store.Store, logical string) string {
	return filepath.Join(st.Dir, filepath.FromSlash(strings.TrimPrefix(logical, store.LogicalDir+"/")))
}

// ResolveLogical follows symbolic links in a logical store path, reading
// them in st, until it names no link: "<toplevel>/kernel" becomes
// "/kiln/store/<hash>-linux-image-…/boot/vmlinuz-…". Kernels and initrds
// are named on the ESP by the store path holding them, so generations
// sharing a kernel share one copy.
func ResolveLogical(st *store.Store, logical string) (string, error) {
	orig := logical
	for range 40 {
		rest, ok := strings.CutPrefix(path.Clean(logical), store.LogicalDir+"/")
		if !ok {
			return "", fmt.Errorf("resolve %s: leads out of %s (to %s)", orig, store.LogicalDir, logical)
		}
		comps := strings.Split(rest, "/")
		cur, moved := store.LogicalDir, false
		for i, c := range comps {
			next := cur + "/" + c
			fi, err := os.Lstat(Physical(st, next))
			if err != nil {
				return "", fmt.Errorf("resolve %s: %w", orig, err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				target, err := os.Readlink(Physical(st, next))
				if err != nil {
					return "", fmt.Errorf("resolve %s: %w", orig, err)
				}
				if !path.IsAbs(target) {
					target = path.Join(cur, target)
				}
				logical, moved = path.Join(append([]string{target}, comps[i+1:]...)...), true
				break
			}
			cur = next
		}
		if !moved {
			return cur, nil
		}
	}
	return "", fmt.Errorf("resolve %s: too many symbolic links", orig)
}
