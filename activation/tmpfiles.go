package activation

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// kilnTmpfiles are the tmpfiles.d files kiln generates from the packages
// (their var trees and what their maintainer scripts made under /var,
// /run, /srv and /etc). A switch applies them before it starts units, as
// boot does (systemd-tmpfiles-setup.service): a service a new generation
// adds finds its directories with their owners.
var kilnTmpfiles = []string{"/etc/tmpfiles.d/kiln-packages.conf", "/etc/tmpfiles.d/kiln-var.conf"}

// CreateTmpfiles runs the machine's systemd-tmpfiles --create under
// root, as a postinst does (dh_installtmpfiles) and boot does: every
// tmpfiles.d file, the packages' own and kiln's, creating what is
// missing (--remove and --boot stay boot's business). A machine without
// systemd-tmpfiles or without kiln's files has nothing to do.
func CreateTmpfiles(ctx context.Context, root string) error {
	bin, err := resolveIn(root, "/usr/bin/systemd-tmpfiles")
	if err != nil {
		return nil
	}
	if _, err := os.Stat(bin); err != nil {
		return nil
	}
	var args []string
	if root != "/" {
		args = append(args, "--root="+root)
	}
	args = append(args, "--create")
	found := false
	for _, f := range kilnTmpfiles {
		if _, err := os.Stat(under(root, f)); err == nil {
			found = true
		}
	}
	if !found {
		return nil
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemd-tmpfiles --create: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
