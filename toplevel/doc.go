// Package toplevel defines what a toplevel (one generation of a system, a
// store path) carries for the code that reads it on the machine: the
// bootspec (boot.json: kernel, initrd, init, kernel parameters and the boot
// loader settings of its configuration), the activation spec
// (activation.json: /etc entries, users, groups, setuid wrappers, the host
// name), the initrd's stage-1 config (kiln-stage1.json) and the
// directories every kiln root has.
//
// It is the leaf both sides import: package system writes these files,
// packages boot, boot/stage1, activation, image and machine read them.
// Each is versioned and read through internal/versioned (a newer version
// is refused, an older one read). It does nothing else: no file of the
// machine is touched here.
package toplevel
