// Package testvm boots disk images under QEMU with OVMF and drives them
// like the NixOS test driver, from plain Go tests:
//
//	m := testvm.Start(t, testvm.WithDisk(img), testvm.WithFreeHostPort(22))
//	m.WaitForUnit("multi-user.target")
//	out := m.Succeed("hostname")
//
// A Machine is a state directory (a private copy of the OVMF variable
// store, a qcow2 overlay over the image) plus the QEMU process currently
// booted from it: Shutdown, SelectGeneration and Boot keep the state.
// Commands reach the guest through the backdoor, a root shell on the
// virtio console /dev/hvc0 that test images run (see backdoor.go); the
// serial console is captured for WaitForConsoleText and for the report
// logged when a test fails, together with the QEMU command line.
// SelectGeneration writes systemd-boot's LoaderEntryOneShot into the
// variable store, whose format varstore.go reads and writes.
//
// KVM is used only where it really runs a guest, else TCG. The package
// knows nothing of kiln's images or configurations (it imports nothing of
// kiln's); interactive use (kiln vm) takes a Plan and runs QEMU itself.
package testvm
