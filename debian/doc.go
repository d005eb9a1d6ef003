// Package debian turns Debian bookworm's archive into verified kiln inputs:
// it finds the mirror (an explicit URL, $KILN_MIRROR, or the machine's apt
// sources), fetches each suite's InRelease and checks its OpenPGP signature,
// checks and parses the Packages indices, resolves wanted packages to a
// closure (DESIGN.md §8), records the result in kiln.lock, and realizes a
// lock: downloads each .deb in parallel, verifies its size and sha256, and
// unpacks its data.tar into its own store path.
//
// It never runs maintainer scripts; it keeps them, with the other control
// files, under <path>/.kiln/control/ so that the system builder can audit
// them. It never prints and never exits; warnings go to a callback.
package debian
