package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/system"
)

type auditFlags struct{ config string }

func init() {
	register(&command{
		name:    "audit",
		summary: "list what the locked packages' maintainer scripts declare, and every action kiln does not recognize",
		usage: `kiln audit [-c host.hcl] [--json]

Reads the maintainer scripts of every package in kiln.lock as a fresh
install runs them (config, preinst install, postinst configure, triggers;
then prerm and postrm as on removal) and prints, per package, each
declaration derived from them (users, groups, tmpfiles entries,
alternatives, units enabled and started, wrappers, /etc files, debconf
questions, caches, first-run state) and each action that needs nothing,
with the script, line and command it comes from. An action no recognizer
handles is printed as UNHANDLED; kiln audit fails when an install-time one
is left. With -c, the host name of the configuration is the machine's.`,
		flags: func(fs *flag.FlagSet) any {
			f := &auditFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` whose kiln.lock is audited (default: ./kiln.lock)")
			return f
		},
		run: runAudit,
	})
}

func runAudit(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*auditFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	host := ""
	var answers map[string]string
	if f.config != "" {
		cfg, err := loadConfig(r, f.config)
		if err != nil {
			return err
		}
		host, answers = cfg.System.Networking.HostName, cfg.System.Debconf
	}
	st, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	mirror, _ := debian.FindMirror(r.Mirror, r.Getenv, aptDir)
	ans, err := system.AuditLock(ctx, st, r.lockFor(f.config), host, answers, debian.FetchOptions{Mirror: mirror, CacheDir: r.cacheDir()})
	if err != nil {
		return err
	}
	if r.JSON {
		b, err := json.MarshalIndent(ans, "", "  ")
		if err != nil {
			return err
		}
		r.Printf("%s\n", b)
	} else {
		for _, an := range ans {
			if t := an.Text(); strings.Count(t, "\n") > 1 { // more than its header
				r.Printf("%s", t)
			}
		}
	}
	return auditVerdict(r, ans)
}

// auditVerdict prints the totals and fails when install-time actions are
// left that no recognizer handles.
func auditVerdict(r *Run, ans []*maintscript.Analysis) error {
	var c maintscript.Counts
	var pkgs []string
	left := 0
	for _, an := range ans {
		for _, ph := range []maintscript.Phase{maintscript.Install, maintscript.Triggered} {
			x := an.Count(ph)
			c.Declared += x.Declared
			c.Ignored += x.Ignored
			c.Unhandled += x.Unhandled
		}
		n := 0
		for _, u := range an.Unhandled {
			if u.From.Phase != maintscript.Remove {
				n++
			}
		}
		if n > 0 {
			left += n
			pkgs = append(pkgs, an.Package)
		}
	}
	total := c.Declared + c.Ignored + c.Unhandled
	fmt.Fprintf(r.Stderr, "kiln audit: %d packages, %d install-time maintainer-script actions: %d declared, %d need nothing, %d unhandled\n", len(ans), total, c.Declared, c.Ignored, c.Unhandled)
	if left > 0 {
		sort.Strings(pkgs)
		return fmt.Errorf("%d maintainer-script action%s no recognizer handles, in %s (the UNHANDLED lines above)", left, plural(left), strings.Join(pkgs, ", "))
	}
	return nil
}
