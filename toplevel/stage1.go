package toplevel

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/kiln-os/kiln/internal/versioned"
)

// Stage1ConfigVersion is the version of kiln-stage1.json written; readers
// accept every version up to it.
const Stage1ConfigVersion = 1

// Stage1ConfigPath is where the initrd holds its Stage1Config.
const Stage1ConfigPath = "/etc/kiln-stage1.json"

// Stage1Config is /etc/kiln-stage1.json in the initrd (the toplevel's
// initrd file), written by the system builder and read by stage 1.
type Stage1Config struct {
	Version int `json:"version"`
	// Modules are absolute paths of uncompressed .ko files in the initrd,
	// in load order (dependencies first).
	Modules []string   `json:"modules"`
	Root    Stage1Root `json:"root"`
}

// Stage1Root says which file system to mount as the root. The kernel
// command line's root=, rootfstype= and init= win over it.
type Stage1Root struct {
	Spec   string `json:"spec"`             // LABEL=x, UUID=x or /dev/...
	FSType string `json:"fstype,omitempty"` // default ext4
	Init   string `json:"init,omitempty"`   // default: init= from the command line
}

// ParseStage1Config decodes and validates a Stage1Config.
func ParseStage1Config(b []byte) (*Stage1Config, error) {
	var c Stage1Config
	if _, err := versioned.Decode(b, Stage1ConfigVersion, &c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ReadStage1Config reads and validates a Stage1Config file.
func ReadStage1Config(file string) (*Stage1Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read stage 1 config: %w", err)
	}
	c, err := ParseStage1Config(b)
	if err != nil {
		return nil, fmt.Errorf("stage 1 config %s: %w", file, err)
	}
	return c, nil
}

// Encode returns the config as indented JSON (module order is kept: it is
// the load order).
func (c *Stage1Config) Encode() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cc := *c
	cc.Version = Stage1ConfigVersion
	if cc.Modules == nil {
		cc.Modules = []string{}
	}
	b, err := json.MarshalIndent(&cc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode stage 1 config: %w", err)
	}
	return append(b, '\n'), nil
}

// Validate checks module paths (absolute, clean, .ko, no duplicates) and
// the root spec.
func (c *Stage1Config) Validate() error {
	seen := map[string]bool{}
	for _, m := range c.Modules {
		if !path.IsAbs(m) || path.Clean(m) != m || !strings.HasSuffix(m, ".ko") {
			return fmt.Errorf("module %q: want an absolute clean path to an uncompressed .ko", m)
		}
		if seen[m] {
			return fmt.Errorf("module %q: listed twice", m)
		}
		seen[m] = true
	}
	if c.Root.Spec != "" {
		if _, err := ParseDeviceSpec(c.Root.Spec); err != nil {
			return fmt.Errorf("root: %w", err)
		}
	}
	return nil
}

// DeviceSpec identifies a block device the way fstab and root= do.
type DeviceSpec struct {
	Label string // LABEL=
	UUID  string // UUID=, lower-case with dashes
	Path  string // /dev/...
}

// ParseDeviceSpec parses LABEL=x, UUID=x or an absolute /dev path.
func ParseDeviceSpec(s string) (DeviceSpec, error) {
	switch {
	case strings.HasPrefix(s, "LABEL=") && len(s) > len("LABEL="):
		return DeviceSpec{Label: strings.TrimPrefix(s, "LABEL=")}, nil
	case strings.HasPrefix(s, "UUID=") && len(s) > len("UUID="):
		return DeviceSpec{UUID: strings.ToLower(strings.TrimPrefix(s, "UUID="))}, nil
	case strings.HasPrefix(s, "/dev/") && path.Clean(s) == s:
		return DeviceSpec{Path: s}, nil
	}
	return DeviceSpec{}, fmt.Errorf("device %q: want LABEL=, UUID= or /dev/...", s)
}

func (d DeviceSpec) String() string {
	switch {
	case d.Label != "":
		return "LABEL=" + d.Label
	case d.UUID != "":
		return "UUID=" + d.UUID
	}
	return d.Path
}
