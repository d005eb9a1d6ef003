// Package boot writes what a kiln system needs to boot: the initrd (a
// deterministic newc cpio archive holding the stage-1 init and the kernel
// modules the root device needs), systemd-boot Type #1 entries and
// loader.conf for every generation, and the synchronisation of an EFI
// System Partition with them. It also defines the bootspec (boot.json),
// the contract between a toplevel and the boot loader.
//
// It does not build toplevels (package system does), does not run stage 1
// (package boot/stage1) and does not write disk images (package image).
package boot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// BootspecVersion is the version of the boot.json format written by kiln.
const BootspecVersion = 1

// Bootspec is a toplevel's boot.json: everything a boot loader needs to
// boot that generation. Paths are logical (under /kiln/store).
type Bootspec struct {
	Version      int      `json:"version"`
	Label        string   `json:"label"`         // "kiln 0.1.0 (Linux 6.1.0-x-cloud-amd64)"
	Toplevel     string   `json:"toplevel"`      // the toplevel store path
	Init         string   `json:"init"`          // Toplevel + "/init"
	Kernel       string   `json:"kernel"`        // the vmlinuz file
	Initrd       string   `json:"initrd"`        // the initrd file
	KernelParams []string `json:"kernel_params"` // without init=
	KilnVersion  string   `json:"kiln_version"`
}

// ErrBootspecVersion reports a boot.json of a version this kiln cannot read.
var ErrBootspecVersion = errors.New("unsupported bootspec version")

// Validate checks that the required fields are present.
func (b *Bootspec) Validate() error {
	if b.Version != BootspecVersion {
		return fmt.Errorf("%w %d (want %d)", ErrBootspecVersion, b.Version, BootspecVersion)
	}
	for _, f := range []struct{ name, v string }{
		{"toplevel", b.Toplevel}, {"init", b.Init}, {"kernel", b.Kernel}, {"initrd", b.Initrd},
	} {
		if f.v == "" {
			return fmt.Errorf("bootspec: %s is empty", f.name)
		}
		if !strings.HasPrefix(f.v, "/") {
			return fmt.Errorf("bootspec: %s %q is not absolute", f.name, f.v)
		}
	}
	return nil
}

// Marshal returns the canonical JSON encoding (indented, trailing newline).
func (b *Bootspec) Marshal() ([]byte, error) {
	if b.KernelParams == nil {
		c := *b
		c.KernelParams = []string{}
		b = &c
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode bootspec: %w", err)
	}
	return append(out, '\n'), nil
}

// ParseBootspec decodes and validates a boot.json.
func ParseBootspec(data []byte) (*Bootspec, error) {
	var b Bootspec
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("decode bootspec: %w", err)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &b, nil
}

// ReadBootspec reads and validates the boot.json at path.
func ReadBootspec(path string) (*Bootspec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read bootspec: %w", err)
	}
	b, err := ParseBootspec(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
