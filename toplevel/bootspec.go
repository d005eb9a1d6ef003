package toplevel

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/kiln-os/kiln/internal/versioned"
)

// BootspecFile is the name of the bootspec inside a toplevel.
const BootspecFile = "boot.json"

// BootspecVersion is the version of boot.json written; readers accept
// every version up to it. Version 2 added loader, version 3 the loader's
// boot_counting_tries.
const BootspecVersion = 3

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
	// Loader is the boot loader settings of the configuration the
	// generation was built from: when it is the default generation, the
	// ESP is written with them. Nil in a version 1 bootspec (see
	// DefaultLoader).
	Loader *Loader `json:"loader,omitempty"`
}

// Loader is systemd-boot's settings as a configuration declares them
// (bootloader.* options).
type Loader struct {
	Timeout        int    `json:"timeout"`         // seconds the menu shows
	MaxGenerations int    `json:"max_generations"` // entries kept, newest first; 0: all
	ConsoleMode    string `json:"console_mode"`    // "keep", "auto", "max" or a number; "" leaves it out
	Editor         bool   `json:"editor"`          // allow editing the kernel command line
	// BootCountingTries is the counter a new generation's entry starts
	// with (NAME+TRIES.conf); 0: boot counting off (and in bootspecs
	// before version 3).
	BootCountingTries int `json:"boot_counting_tries"`
}

// DefaultLoader is the bootloader options' defaults (modules declares
// them; a test keeps the two equal), for a generation whose bootspec has
// no Loader and a machine that never recorded one.
var DefaultLoader = Loader{Timeout: 3, MaxGenerations: 10, ConsoleMode: "keep", BootCountingTries: 3}

// Validate checks that the required fields are present and absolute.
func (b *Bootspec) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"toplevel", b.Toplevel}, {"init", b.Init}, {"kernel", b.Kernel}, {"initrd", b.Initrd},
	} {
		if f.v == "" {
			return fmt.Errorf("bootspec: %s is empty", f.name)
		}
		if !strings.HasPrefix(f.v, "/") {
			return fmt.Errorf("bootspec: %s %q is not absolute", f.name, f.v)
		}
		if strings.ContainsAny(f.v, " \t\n\r\x00") {
			return fmt.Errorf("bootspec: %s %q contains white space or a line break", f.name, f.v)
		}
	}
	// Each goes on the boot loader entry's options line and the kernel's
	// command line: a line break would add a line to the entry.
	for _, p := range b.KernelParams {
		if p == "" || strings.ContainsAny(p, "\n\r\x00") {
			return fmt.Errorf("bootspec: kernel parameter %q is empty or has a line break", p)
		}
	}
	return nil
}

// Marshal returns the canonical JSON encoding (indented, trailing newline)
// at BootspecVersion.
func (b *Bootspec) Marshal() ([]byte, error) {
	c := *b
	c.Version = BootspecVersion
	if c.KernelParams == nil {
		c.KernelParams = []string{}
	}
	out, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode bootspec: %w", err)
	}
	return append(out, '\n'), nil
}

// ParseBootspec decodes and validates a boot.json.
func ParseBootspec(data []byte) (*Bootspec, error) {
	var b Bootspec
	if _, err := versioned.Decode(data, BootspecVersion, &b); err != nil {
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
