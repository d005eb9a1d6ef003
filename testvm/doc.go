// Package testvm boots disk images under QEMU with OVMF and drives them
// like the NixOS test driver.
package testvm
