// Package stage1 is kiln's stage 1: the init program of the initrd. It
// mounts /proc, /sys and /dev, loads the kernel modules the root device
// needs, waits for the root file system, mounts it and switches root into
// the toplevel's init (stage 2).
//
// The pure parts (the initrd's configuration, the kernel command line, the
// ext4 superblock reader) are ordinary functions tested anywhere; Run only
// works as pid 1 in an initrd. It never starts a shell: none exists.
package stage1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"
)

// ConfigVersion is the version of kiln-stage1.json written and read.
const ConfigVersion = 1

// ConfigPath is where the initrd holds its Config.
const ConfigPath = "/etc/kiln-stage1.json"

// Config is /etc/kiln-stage1.json in the initrd, written by the initrd
// builder.
type Config struct {
	Version int `json:"version"`
	// Modules are absolute paths of uncompressed .ko files in the initrd,
	// in load order (dependencies first).
	Modules []string `json:"modules"`
	Root    Root     `json:"root"`
}

// Root says which file system to mount as the root. The kernel command
// line's root=, rootfstype= and init= win over it.
type Root struct {
	Spec   string `json:"spec"`             // LABEL=x, UUID=x or /dev/...
	FSType string `json:"fstype,omitempty"` // default ext4
	Init   string `json:"init,omitempty"`   // default: init= from the command line
}

// ParseConfig decodes and validates a Config.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if c.Version < 1 || c.Version > ConfigVersion {
		return nil, fmt.Errorf("version %d not supported (this kiln reads 1 to %d)", c.Version, ConfigVersion)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ReadConfig reads and validates a Config file.
func ReadConfig(file string) (*Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read stage 1 config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("stage 1 config %s: %w", file, err)
	}
	return c, nil
}

// Encode returns the Config as indented JSON (module order is kept: it is
// the load order).
func (c *Config) Encode() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cc := *c
	cc.Version = ConfigVersion
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
func (c *Config) Validate() error {
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
