package system

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/store"

	"github.com/kiln-os/kiln/debian/maintscript"
)

// AuditScripts analyzes the maintainer scripts of every package of pk as
// a fresh install on a machine named hostName ("" leaves the name
// unknown) would run them (debian/maintscript): in dpkg's configure order,
// against the closure the packages form. The result is in name order.
func AuditScripts(pk Packages, hostName string) ([]*maintscript.Analysis, error) {
	return auditScripts(pk, hostName, nil)
}

// auditScripts is AuditScripts with debconf answers.
func auditScripts(pk Packages, hostName string, answers map[string]string) ([]*maintscript.Analysis, error) {
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
	a := &maintscript.Analyzer{Closure: maintscript.DirsFS(dirs...), HostName: hostName, Answers: answers}
	return a.AnalyzeAll(in)
}

// scriptsOfLock: see ScriptsOfLock.
func scriptsOfLock(storeDir, lockFile, hostName string, answers map[string]string) []*maintscript.Analysis {
	lock, err := debian.ReadLock(lockFile)
	if err != nil {
		return nil
	}
	paths := map[string]store.Path{}
	for _, p := range lock.Packages {
		sp, err := p.StorePath()
		if err != nil {
			return nil
		}
		if _, err := os.Stat(filepath.Join(storeDir, sp.Base())); err != nil {
			return nil
		}
		paths[p.Name] = sp
	}
	ans, err := auditScripts(NewPackageSet(storeDir, paths), hostName, answers)
	if err != nil {
		return nil
	}
	return ans
}
