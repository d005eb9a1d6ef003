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

// CreateTmpfiles runs the machine's systemd-tmpfiles --create over
// kiln's tmpfiles.d files under root (only those: --remove and the
// other files are boot's business). A machine without systemd-tmpfiles
// or without the files has nothing to do.
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
	n := len(args)
	for _, f := range kilnTmpfiles {
		if _, err := os.Stat(under(root, f)); err == nil {
			args = append(args, f)
		}
	}
	if len(args) == n {
		return nil
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemd-tmpfiles --create: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
