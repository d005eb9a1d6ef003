// Package cache is kiln's binary cache: store paths (and the .deb files a
// lock pins) kept in a directory, an S3 bucket or on any static web server,
// so that machines take valid paths from it instead of building them or
// asking a Debian mirror.
//
// # Layout (Nix's, so that Nix tools read it)
//
//	nix-cache-info              StoreDir: /kiln/store, Priority, KilnCache: <layout version>
//	<hash>.narinfo              one per store path: NAR hash and size, references, signatures
//	nar/<file hash>.nar.zst     the path's NAR (nix-store --dump format), zstd-compressed
//	debs/<sha256>.deb           Debian packages by the sha256 a lock pins (kiln's addition)
//
// A narinfo is signed with ed25519 over Nix's fingerprint
// "1;<path>;<nar hash>;<nar size>;<references>", with keys in Nix's
// NAME:base64 form: `nix store verify` checks a kiln cache and kiln checks
// a cache Nix wrote for a /kiln/store.
//
// # Trust
//
// Substitute takes a path only when its narinfo carries a good signature
// by a trusted key, and registers it only after the NAR it downloaded
// hashed to the signed NAR hash and size (store.Import): a tampered,
// truncated or foreign object never becomes valid. The .debs need no
// signature: the lock's sha256 is checked when they are unpacked.
//
// # Writing
//
// Push uploads a closure, each NAR before its narinfo and each narinfo
// after those of its references, so a reader that finds a narinfo finds
// the closure. GC deletes what no kept root reaches, narinfos before
// NARs, and spares objects younger than a grace period (a push in flight).
//
// # What it does not do
//
// It does not decide which caches or keys a machine uses (the config's
// substituters and trusted_public_keys do), it does not build, and it
// reads no compression but zstd and none (Nix caches of xz NARs are for
// /nix/store anyway). The http(s) backend cannot write or list: push to
// file:// or s3:// and serve that.
package cache
