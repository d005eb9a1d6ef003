// Package shell makes ad-hoc environments of Debian packages and runs
// commands in them, on any Linux host and without root: `kiln shell PKG…
// [-- CMD ARGS]`.
//
// Prepare finds the packages' lock (a lock given, else the project's
// kiln.lock when it locks them, else a lock recorded by an earlier start
// for the same package set, else a fresh resolution that it records),
// realizes the closure (the packages, the Essential ones, what they depend
// on) in the store and builds their merged /usr forest as one store path
// (system.BuildEnv). A second start of the same set reads one small lock
// and checks that each path is valid: no network, no resolution, no
// building.
//
// Command and Run start kiln again as the namespace helper (argv[0]
// HelperName: kiln is a multi-call binary) in a new mount namespace and,
// unless the caller is root, a new user namespace that maps the caller's
// uid and gid onto themselves (or onto 0 with Spec.Root). Enter, the
// helper, builds the new root on a tmpfs mounted over the host's /usr (the
// one host directory the shell hides, so it is a mount point on every
// host): every other top-level directory of the host bound recursively
// (/etc, /home, /tmp, /proc, /sys, /dev, /run, /var…), /usr a link to the
// environment, /bin, /sbin, /lib, /lib64 links into usr/ (merged /usr),
// /kiln/store the physical store bound read-only (on a kiln machine whose
// store is another, a union of both: the machine's /etc links into its
// own), and the host's /etc/ld.so.cache masked by an empty file (so that
// the environment's loader never follows the host's library paths: it
// searches Debian's multiarch directories). It makes that root read-only,
// pivots into it, drops the capability it mounted with, and executes the
// command, which therefore is the helper's process: its exit status is
// kiln's.
//
// It does not merge the packages' own /etc files (the host's /etc serves
// the host's users, resolver and name service), runs no maintainer
// scripts, and starts no services.
package shell
