# hardware.profile = "generic": what a physical machine (or any hypervisor)
# needs beyond the virtio devices the default "virtual" profile boots
# from: Debian's generic kernel, the initrd modules of NVMe, SATA (AHCI),
# USB storage, SCSI (virtio-scsi, common HBAs) and common NICs, and the
# firmware packages of Debian's main component. Stage 1 looks for the
# root's label on every block device, so any of these disks holds it.

config {
  when = config.hardware.profile == "generic"

  kernel {
    package = mkDefault("linux-image-amd64")
    initrd_modules = [
      # the root file system: built into the cloud kernel, a module here;
      # ext4 (and jbd2) take their checksums from the crypto API's crc32c
      # (modules.softdep "pre: crypto-crc32c", not in modules.dep), without
      # which mounting fails "Cannot load crc32c driver"
      "ext4", "crc32c_generic",
      # disks (sd_mod and virtio_scsi come from kernel.hcl)
      "nvme", "ahci", "ata_piix", "sr_mod", "mptspi", "vmw_pvscsi",
      "megaraid_sas", "mpt3sas", "hv_storvsc",
      # USB storage behind xHCI and EHCI
      "xhci_pci", "ehci_pci", "uhci_hcd", "usb_storage", "uas",
      # keyboards at the emergency shell
      "hid_generic", "usbhid",
      # common NICs
      "e1000", "e1000e", "igb", "ixgbe", "i40e", "r8169", "tg3", "bnx2", "virtio_net", "vmxnet3",
      "hv_netvsc",
    ]
  }

  packages = [pkgs.firmware-linux-free]
}

assert {
  condition = contains(["virtual", "generic"], config.hardware.profile)
  message   = "hardware.profile must be \"virtual\" or \"generic\""
}
