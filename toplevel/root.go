package toplevel

import "io/fs"

// RootDir is one top-level directory of a kiln root file system.
type RootDir struct {
	Name string      // "tmp"
	Mode fs.FileMode // its permissions
	// Enforce: activation sets Mode on an existing directory too (an
	// image or an old machine may hold /tmp as a plain directory).
	Enforce bool
}

// RootDirs are the top-level directories every kiln root has besides kiln/
// and the FHS links to the current system's sw: an image makes them all,
// and activation makes the missing ones. Mount points (dev, proc, sys,
// run) stay empty on disk.
var RootDirs = []RootDir{
	{Name: "boot", Mode: 0o755}, {Name: "dev", Mode: 0o755}, {Name: "etc", Mode: 0o755},
	{Name: "home", Mode: 0o755}, {Name: "mnt", Mode: 0o755}, {Name: "proc", Mode: 0o755},
	{Name: "root", Mode: 0o700}, {Name: "run", Mode: 0o755}, {Name: "sys", Mode: 0o755},
	{Name: "tmp", Mode: 0o777 | fs.ModeSticky, Enforce: true}, {Name: "var", Mode: 0o755},
}
