package cli

import (
	"context"
	"encoding/json"
	"flag"

	"github.com/kiln-os/kiln/activation"
)

// kiln state audit: activation.AuditState, printed.

type stateOpts struct{ root string }

func init() {
	register(&command{
		name:    "state",
		summary: "what an ephemeral root would lose: state audit",
		usage: `kiln state audit [--root DIR] [--json]

On a machine with impermanence.enable, lists every file written since boot
outside the paths that survive a reboot (impermanence.directories and
files, /kiln, and what activation makes: /etc, the accounts), /tmp
excepted: what the next reboot deletes. Declare what must stay, or let it
go.`,
		flags: func(fs *flag.FlagSet) any {
			o := &stateOpts{}
			fs.StringVar(&o.root, "root", "/", "the machine's root `DIR`")
			return o
		},
		run: runState,
	})
}

func runState(_ context.Context, r *Run, opts any, args []string) error {
	o := opts.(*stateOpts)
	if len(args) != 1 || args[0] != "audit" {
		return usageErrorf("want 'kiln state audit'")
	}
	files, err := activation.AuditState(r.Path(o.root))
	if err != nil {
		return err
	}
	if r.JSON {
		if files == nil {
			files = []string{}
		}
		b, _ := json.MarshalIndent(files, "", "  ")
		r.Printf("%s\n", b)
		return nil
	}
	for _, f := range files {
		r.Printf("%s\n", f)
	}
	return nil
}
