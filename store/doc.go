// Package store implements kiln's content-addressed store: validated store
// paths and the hashing that names them, canonical and atomic writing of
// path contents, the validity database with references, closures, GC
// roots, garbage collection, verification, profiles, logical paths
// (PhysicalPath, ResolveLogical) and moving paths between machines (NAR
// export and import, the kiln-store-stream format).
//
// The store never interprets what it holds: Debian packages, generated
// /etc trees and toplevels are all just paths with references.
//
// # Layout
//
// A Store has a physical directory Dir (/kiln/store on a kiln machine, any
// directory elsewhere) and a state directory StateDir = Dir/../var:
//
//	Dir/<hash>-<name>                 store paths (canonical, read-only)
//	Dir/.tmp/<base>.<rand>/out        a build in progress (fill writes here)
//	StateDir/db/paths/<base>.json     validity records {version, path, refs, narHash, narSize, registered}
//	StateDir/locks/<base>.lock        per-path build locks (flock)
//	StateDir/gc.lock                  shared by builders, exclusive for GC
//	StateDir/gcroots/auto/<hash>      indirect roots -> result links (AddRoot)
//	StateDir/gcroots/*                direct roots -> store paths
//	StateDir/profiles/<p>-<N>-link    generations; <p> -> current <p>-<N>-link
//	StateDir/temproots/<pid>-<rand>   paths a live process built (flock held)
//
// Contents always refer to other paths by their logical name
// (/kiln/store/...), whatever Dir is; Physical maps a Path to Dir.
//
// # Validity
//
// A path is valid when its record exists and its content is present. Build
// writes content into a temp dir, canonicalizes it, hashes it, flushes it
// (fsync per entry, or one syncfs for big trees), renames it into Dir and
// only then writes the record (temp file, fsync, rename): the record's
// rename is the moment of registration, so a crash at any point leaves at
// most an unregistered leftover, which the next Build of that path, the
// next Open (temp dirs) or the next GC removes. Records are one JSON file
// per path so that a Valid check is two lstat calls and writers of
// different paths never contend. Records carry a version; readers accept
// every version up to the current one.
//
// # Hashes
//
// Path names come from Key (generated content: builder, parameters,
// inputs) or FixedPath (content fixed by a sha256, e.g. a .deb). The
// recorded content hash is the SHA-256 of the NAR serialization, as
// nix-store --dump writes it, printed "sha256:<nix32>"; Verify recomputes it.
//
// # Garbage collection
//
// Roots are result links (AddRoot, indirect through gcroots/auto), profile
// generations, links under gcroots, and the temporary roots of live
// processes: every path a Store built or found valid in Build stays
// rooted until the process exits or calls Close. GC takes the collector
// lock exclusively, so it never runs during a Build, AddRoot,
// AddGeneration or Verify; it unregisters dead paths first, then deletes
// them.
//
// # Physical and logical targets
//
// AddRoot and AddGeneration write links to physical paths (Dir/...), for
// the machine running kiln. WriteProfileLinks writes logical targets
// (/kiln/store/...) into a root being assembled, and ExportRecords copies
// validity records into that root's state directory. Readers accept both.
// On a kiln machine the two coincide. Open also works on a store mounted
// read-only; Build then fails naming the store.
//
// # What it does not do
//
// It does not substitute (download) paths, detect references by scanning
// contents (callers declare refs), or deduplicate files by hard links.
// Valid alone does not protect a path from a concurrent collection; Build
// does (cheaply, when the path is valid already).
package store
