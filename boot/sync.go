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
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// ReadGeneration reads the bootspec of top as generation n (made at
// created; zero leaves the date out of its entry), with its kernel and
// initrd resolved to the store paths holding them (store.ResolveLogical):
// kernels and initrds are named on the ESP by those, so generations
// sharing a kernel share one copy.
func ReadGeneration(st *store.Store, n int, top store.Path, created time.Time) (Generation, error) {
	bs, err := toplevel.ReadBootspec(filepath.Join(st.Physical(top), toplevel.BootspecFile))
	if err != nil {
		return Generation{}, err
	}
	if bs.Kernel, err = st.ResolveLogical(bs.Kernel); err != nil {
		return Generation{}, fmt.Errorf("kernel: %w", err)
	}
	if bs.Initrd, err = st.ResolveLogical(bs.Initrd); err != nil {
		return Generation{}, fmt.Errorf("initrd: %w", err)
	}
	return GenerationFromBootspec(n, bs, created), nil
}

// ProfileGenerations reads every generation of profile in st, oldest
// first (ReadGeneration), and returns the current generation's number.
func ProfileGenerations(st *store.Store, profile string) (gens []Generation, current int, err error) {
	sgens, err := st.Generations(profile)
	if err != nil {
		return nil, 0, err
	}
	for _, g := range sgens {
		gen, err := ReadGeneration(st, g.N, g.Path, g.Created)
		if err != nil {
			return nil, 0, fmt.Errorf("generation %d of %s: %w", g.N, profile, err)
		}
		gens = append(gens, gen)
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
	src := st.PhysicalPath
	if err := ApplyESP(ctx, espRoot, plan, src); err != nil {
		return ESPPlan{}, err
	}
	return plan, nil
}

// SystemdBootEFI is where Debian's systemd-boot-efi package ships the boot
// loader.
const SystemdBootEFI = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// ErrNoSystemdBoot reports a closure without systemd-boot.
var ErrNoSystemdBoot = errors.New("no systemd-boot in the closure")

// FindSystemdBoot returns the logical path of systemd-bootx64.efi in the
// closure of tops: the file SystemdBootEFI of a systemd-boot-efi-VERSION
// store path. Without one the error is ErrNoSystemdBoot.
func FindSystemdBoot(st *store.Store, tops ...store.Path) (string, error) {
	closure, err := st.Closure(tops...)
	if err != nil {
		return "", err
	}
	for _, p := range closure {
		if !strings.HasPrefix(p.Name(), "systemd-boot-efi-") {
			continue
		}
		if _, err := os.Stat(filepath.Join(st.Physical(p), SystemdBootEFI)); err == nil {
			return p.String() + "/" + SystemdBootEFI, nil
		}
	}
	return "", fmt.Errorf("%w of %s: no systemd-boot-efi package with %s (add systemd-boot-efi to the system's packages)", ErrNoSystemdBoot, tops[len(tops)-1], SystemdBootEFI)
}

// LoaderConfigOf is the LoaderConfig of a generation's loader settings
// (SystemdBoot left empty).
func LoaderConfigOf(l toplevel.Loader) LoaderConfig {
	return LoaderConfig{Timeout: l.Timeout, ConsoleMode: l.ConsoleMode, Editor: l.Editor, MaxGenerations: l.MaxGenerations, Tries: l.BootCountingTries}
}
