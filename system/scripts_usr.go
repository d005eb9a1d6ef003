package system

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/store"
)

// PartScripts is the store path of the files the maintainer scripts make
// under /usr (dovecot's protocols.d/imapd.protocol, which its
// dovecot.conf includes): laid over the packages in sw.
const PartScripts = "package-scripts"

const scriptsBuilder = "package-scripts/1"

// usrFile is a file a script makes under /usr, as sw will hold it
// (path relative to /usr's parent, e.g. "usr/share/x/y").
type usrFile struct {
	rel    string
	data   []byte
	link   string // a symlink's target instead of data
	source string // the script line, for errors
}

// usrFiles are the files the scripts write under /usr (and the
// merged-/usr /bin, /sbin, /lib): literal content, a copy of a closure
// file with its edits, a link. A file a package ships stays the
// package's (replacing it is not made yet: a warning), as is what kiln
// cannot compute.
func (d *scriptDecls) usrFiles(pk Packages) (out []usrFile, warnings []Warning) {
	if d == nil {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, an := range d.an {
		for _, f := range an.Files {
			p := path.Clean(f.Path)
			first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
			if first != "usr" && swTopLevel[first] == "" || f.Kind == maintscript.Directory || f.Kind == maintscript.Removed {
				continue
			}
			rel := strings.TrimPrefix(p, "/")
			if first != "usr" {
				rel = "usr/" + rel // merged /usr: /bin is /usr/bin
			}
			if seen[rel] || strings.ContainsAny(rel, "$*?`") {
				continue
			}
			warn := func(why string) {
				warnings = append(warnings, Warning{Text: fmt.Sprintf("%s: %s %s: %s", f.From[0], f.Kind, f.Path, why)})
			}
			if n, _, ok := find(pk, rel); ok {
				warn("replaces a file package " + n + " ships, which is not made yet")
				continue
			}
			u := usrFile{rel: rel, source: oneLineSource(f.From[0])}
			switch f.Kind {
			case maintscript.Content:
				text, err := maintscript.ApplyEdits(f.Content, f.Edits, closureReader(pk))
				if err != nil {
					warn(err.Error())
					continue
				}
				u.data = []byte(text)
			case maintscript.Copy:
				_, phys, ok := find(pk, strings.TrimPrefix(path.Clean(f.Template), "/"))
				if !ok {
					warn("a copy of " + f.Template + ", which no locked package ships, is not made yet")
					continue
				}
				b, err := os.ReadFile(phys)
				if err != nil {
					warn(err.Error())
					continue
				}
				text, err := maintscript.ApplyEdits(string(b), f.Edits, closureReader(pk))
				if err != nil {
					warn(err.Error())
					continue
				}
				u.data = []byte(text)
			case maintscript.Link:
				u.link = f.Target
			default:
				continue
			}
			seen[rel] = true
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, warnings
}

// closureReader reads a file of the locked packages by its path.
func closureReader(pk Packages) func(string) (string, error) {
	return func(p string) (string, error) {
		_, phys, ok := find(pk, strings.TrimPrefix(path.Clean(p), "/"))
		if !ok {
			return "", fmt.Errorf("no locked package ships %s", p)
		}
		b, err := os.ReadFile(phys)
		return string(b), err
	}
}

// planUsrFiles keys the package-scripts part by its files.
func (p *BuildPlan) planUsrFiles() error {
	files, warnings := p.scripts.usrFiles(p.pk)
	p.warnings = append(p.warnings, warnings...)
	p.usr = files
	if len(files) == 0 {
		return nil
	}
	k := store.NewKey(scriptsBuilder)
	for _, f := range files {
		k.Add("file", f.rel+"\x00"+f.link+"\x00"+string(f.data))
	}
	var err error
	p.Parts[PartScripts], err = k.Path("package-scripts")
	return err
}

// writeUsrFiles fills the package-scripts part.
func writeUsrFiles(files []usrFile, tmp string) error {
	for _, f := range files {
		dst := filepath.Join(tmp, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		var err error
		if f.link != "" {
			err = os.Symlink(f.link, dst)
		} else {
			err = os.WriteFile(dst, f.data, 0o644)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.source, err)
		}
	}
	return nil
}
