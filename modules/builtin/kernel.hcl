# The kernel's consoles and the modules the initrd needs to find a virtio
# root disk (the system builder adds their dependencies).

kernel {
  params         = mkBefore(["console=tty0", "console=ttyS0,115200"])
  initrd_modules = mkBefore(["virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod"])
}
