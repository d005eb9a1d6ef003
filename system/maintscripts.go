package system

import (
	"fmt"
	"os"

	"github.com/kiln-os/kiln/debian/maintscript"
)

// AuditScripts analyzes the maintainer scripts of every package of pk as
// a fresh install on a machine named hostName ("" leaves the name
// unknown) would run them (debian/maintscript): in dpkg's configure order,
// against the closure the packages form. The result is in name order.
func AuditScripts(pk Packages, hostName string) ([]*maintscript.Analysis, error) {
	names := pk.Names()
	dirs := make([]string, 0, len(names))
	in := make([]maintscript.Package, 0, len(names))
	for _, n := range names {
		d, ok := pk.Dir(n)
		if !ok {
			return nil, fmt.Errorf("package %s has no store path", n)
		}
		dirs = append(dirs, d)
		in = append(in, maintscript.Package{Name: n, Files: os.DirFS(d)})
	}
	a := &maintscript.Analyzer{Closure: maintscript.DirsFS(dirs...), HostName: hostName}
	return a.AnalyzeAll(in)
}
