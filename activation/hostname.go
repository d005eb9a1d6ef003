package activation

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/kiln-os/kiln/toplevel"
)

// kernelHostname is the running kernel's host name under a root: writing
// it is sethostname(2) on a real machine (/proc is mounted at boot), and a
// test root without it has no running host name to change.
const kernelHostname = "/proc/sys/kernel/hostname"

// HostnamePlan is the running host name and the one the generation wants.
// systemd sets the host name from /etc/hostname only at boot, so a switch
// sets it (as NixOS's activation does).
type HostnamePlan struct {
	Current string `json:"current"` // "" when the root has no running kernel (a test root)
	Want    string `json:"want"`    // "" when the generation names none
}

// Change reports whether applying the plan changes the running host name.
func (p HostnamePlan) Change() bool {
	return p.Want != "" && p.Current != "" && p.Current != p.Want
}

func (p HostnamePlan) String() string {
	switch {
	case p.Want == "":
		return "host name: not set by this generation\n"
	case p.Current == "":
		return fmt.Sprintf("host name: %s (no running kernel under this root)\n", p.Want)
	case p.Change():
		return fmt.Sprintf("host name: %s -> %s\n", p.Current, p.Want)
	}
	return fmt.Sprintf("host name: %s (unchanged)\n", p.Want)
}

// PlanHostname reads the running host name under root.
func PlanHostname(root string, spec *toplevel.ActivationSpec) (HostnamePlan, error) {
	p := HostnamePlan{Want: spec.HostName}
	b, err := os.ReadFile(under(root, kernelHostname))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return p, nil
	case err != nil:
		return p, fmt.Errorf("read the running host name: %w", err)
	}
	p.Current = strings.TrimSpace(string(b))
	return p, nil
}

// ApplyHostname sets the running host name when the plan changes it.
func ApplyHostname(root string, p HostnamePlan) error {
	if !p.Change() {
		return nil
	}
	f, err := os.OpenFile(under(root, kernelHostname), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("set the host name to %s: %w", p.Want, err)
	}
	if _, err := f.WriteString(p.Want); err != nil {
		f.Close()
		return fmt.Errorf("set the host name to %s: %w", p.Want, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("set the host name to %s: %w", p.Want, err)
	}
	return nil
}
