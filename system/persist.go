package system

import (
	"sort"

	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// persistFiles are always kept on an ephemeral root: the machine's
// identity (machine-id, which names its journal) and its SSH host keys
// (what its secrets are encrypted to). kiln's own state (generations,
// ids.json, the etc ledger) is under /kiln, which is the disk's.
var persistFiles = []string{
	"/etc/machine-id",
	"/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ecdsa_key.pub",
	"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
	"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_rsa_key.pub",
}

// planPersist is the activation spec's persisted paths (nil without
// impermanence): the defaults and the declared ones, sorted and unique.
func planPersist(sys *modules.System) *toplevel.Persist {
	im := sys.Impermanence
	if !im.Enable {
		return nil
	}
	dirs := appendUnique(nil, im.Directories...)
	files := appendUnique(append([]string{}, persistFiles...), im.Files...)
	sort.Strings(dirs)
	sort.Strings(files)
	if dirs == nil {
		dirs = []string{}
	}
	return &toplevel.Persist{Path: im.Path, Directories: dirs, Files: files}
}
