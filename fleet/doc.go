// Package fleet deploys many hosts from one repository: it reads a fleet
// file (HCL: one hosts "NAME" block per machine, with its SSH target, its
// configuration and its tags), selects hosts (--on @tag,NAME), and runs a
// deploy: every selected host is built into one store (hosts that share a
// configuration, modules or a lock share its parts), then each is copied
// and switched, at most Parallel at once, in batches when rolling. The
// build and the per-host switch are functions the caller provides
// (internal/cli gives system.Build and machine.Remote.Deploy); the package
// decides the order, isolates failures, and reports each host's outcome.
//
// It does not connect to anything itself, and it does not print.
package fleet
