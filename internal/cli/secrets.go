package cli

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"filippo.io/age"

	"github.com/kiln-os/kiln/secrets"
)

// kiln secrets edit|rekey|host-key: each a call into package secrets.

type secretsOpts struct {
	identities stringList
	recipients string
	root       string
	target     string
}

func init() {
	register(&command{
		name:    "secrets",
		summary: "age-encrypted secrets: secrets edit FILE, secrets rekey FILE|DIR..., secrets host-key",
		usage: `kiln secrets edit [-i IDENTITY]... [--recipients FILE] FILE.age
kiln secrets rekey [-i IDENTITY]... [--recipients FILE] FILE.age|DIR...
kiln secrets host-key [--root DIR | --target-host HOST[:PORT]]

A secret is a file encrypted with age to the machines' SSH host keys and
the admins' keys, listed one a line in a recipients file (default:
secrets.recipients beside the secret). A configuration names it
(secrets "db" { file = "db.age", owner = "postgres" }); only its
ciphertext enters the store, and the machine decrypts it at activation
into /run/secrets/NAME.

edit decrypts FILE with an identity (-i: an SSH private key or an age
identity file; default ~/.ssh/id_ed25519), runs $EDITOR on the plaintext
in a private directory in memory (/dev/shm), then encrypts the result to
the recipients and replaces FILE. A missing FILE starts empty.

rekey re-encrypts each FILE (every *.age of a DIR) to the recipients, after
a machine or an admin was added or removed; the plaintext does not change,
so a switch restarts nothing.

host-key prints a machine's SSH host key as a recipients line: the local
machine's (--root, default /), or one read from an SSH server's key
exchange (--target-host; compare its fingerprint with the machine's).`,
		flags: func(fs *flag.FlagSet) any {
			o := &secretsOpts{}
			fs.Var(&o.identities, "i", "an identity `FILE` that opens the secrets (repeatable)")
			fs.StringVar(&o.recipients, "recipients", "", "the recipients `FILE` (default: secrets.recipients beside the secret)")
			fs.StringVar(&o.root, "root", "/", "host-key: the machine's root `DIR`")
			fs.StringVar(&o.target, "target-host", "", "host-key: read the key from this SSH server, `HOST[:PORT]`")
			return o
		},
		run: runSecrets,
	})
}

func runSecrets(ctx context.Context, r *Run, opts any, args []string) error {
	o := opts.(*secretsOpts)
	if len(args) == 0 {
		return usageErrorf("want 'kiln secrets edit FILE', 'kiln secrets rekey FILE...' or 'kiln secrets host-key'")
	}
	switch args[0] {
	case "host-key":
		if len(args) != 1 {
			return usageErrorf("host-key takes no arguments")
		}
		var line string
		var err error
		if o.target != "" {
			line, err = secrets.ScanHostKey(o.target, 30*time.Second)
		} else {
			line, err = secrets.HostRecipient(r.Path(o.root))
		}
		if err != nil {
			return err
		}
		r.Printf("%s\n", line)
		return nil
	case "edit":
		if len(args) != 2 {
			return usageErrorf("want 'kiln secrets edit FILE'")
		}
		file := r.Path(args[1])
		rs, ids, err := r.secretKeys(o, file, false)
		if err != nil {
			return err
		}
		editor := r.Getenv("EDITOR")
		if editor == "" {
			editor = "vi"
		}
		wrote, err := secrets.Edit(file, secrets.EditOptions{Recipients: rs, Identities: ids, Editor: func(f string) error {
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", editor+` "$1"`, "kiln-secrets-edit", f)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = r.Stdin, r.Stdout, r.Stderr
			return cmd.Run()
		}})
		if err != nil {
			return err
		}
		if wrote {
			r.Printf("encrypted %s to %d recipients\n", args[1], len(rs))
		} else {
			r.Printf("%s unchanged\n", args[1])
		}
		return nil
	case "rekey":
		if len(args) < 2 {
			return usageErrorf("want 'kiln secrets rekey FILE|DIR...'")
		}
		var files []string
		for _, a := range args[1:] {
			p := r.Path(a)
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				m, _ := filepath.Glob(filepath.Join(p, "*.age"))
				sort.Strings(m)
				files = append(files, m...)
				continue
			}
			files = append(files, p)
		}
		if len(files) == 0 {
			return usageErrorf("no .age files in %v", args[1:])
		}
		rs, ids, err := r.secretKeys(o, files[0], true)
		if err != nil {
			return err
		}
		if err := secrets.Rekey(files, rs, ids); err != nil {
			return err
		}
		r.Printf("re-encrypted %d files to %d recipients\n", len(files), len(rs))
		return nil
	}
	return usageErrorf("unknown secrets command %q (want edit, rekey or host-key)", args[0])
}

// secretKeys reads the recipients (beside file unless --recipients) and
// the identities (-i, else ~/.ssh/id_ed25519).
func (r *Run) secretKeys(o *secretsOpts, file string, needID bool) ([]secrets.Recipient, []age.Identity, error) {
	rf := r.Path(o.recipients)
	if rf == "" {
		rf = filepath.Join(filepath.Dir(file), secrets.RecipientsFile)
	}
	rs, err := secrets.ReadRecipients(rf)
	if err != nil {
		return nil, nil, err
	}
	files := []string(o.identities)
	if len(files) == 0 {
		if home := r.Getenv("HOME"); home != "" {
			if def := filepath.Join(home, ".ssh", "id_ed25519"); fileExists(def) {
				files = []string{def}
			}
		}
	}
	if len(files) == 0 && (needID || fileExists(file)) {
		return nil, nil, usageErrorf("no identity to open the secrets: give -i FILE (an SSH private key or an age identity file)")
	}
	var ids []age.Identity
	for _, f := range files {
		id, err := secrets.ReadIdentity(r.Path(f))
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, id...)
	}
	return rs, ids, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
