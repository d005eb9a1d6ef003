// Package maintscript reads what a Debian package's maintainer scripts
// would do on a fresh install and returns it as pure data: declarations
// (system users and groups, tmpfiles entries, alternatives, unit
// enablement, capability and setuid wrappers, files in /etc, debconf
// questions, caches that triggers rebuild, first-run state such as
// database clusters and generated keys) and, for everything it does not
// recognize, explicit Unhandled actions. Each carries its provenance: the
// package, the script, the line and the command as written.
//
// It never runs a script. It parses each one with a real shell parser
// (mvdan.cc/sh) and interprets it abstractly as dpkg would run it on a
// machine where the package was never installed: the debconf config
// script, then "preinst install", then "postinst configure" with no old
// version, then "postinst triggered" for the triggers the package is
// interested in, and finally prerm and postrm as on removal (whose actions
// kiln never needs: a generation without the package has nothing of it).
// It follows case and if on what is known ($1, $2, $DPKG_MAINTSCRIPT_*,
// debconf answers, the files the closure ships, what the script made
// earlier), functions defined in the script or in the helper files it
// sources, && and ||, and variables whose value it can resolve; where a
// condition cannot be decided it follows both branches, so nothing that
// may run is missed. It also reads the package's shipped
// usr/lib/sysusers.d and usr/lib/tmpfiles.d files, its debconf templates
// and its triggers file.
//
// It does not turn declarations into store paths or machine state (the
// system builder does that), and it knows nothing of kiln's configuration.
package maintscript
