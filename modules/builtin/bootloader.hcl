# The boot loader: systemd-boot-efi has the EFI binary kiln installs on
# the ESP; systemd-boot has bootctl, so `bootctl list` and `bootctl status`
# work on the machine. Its postinst (which would install the loader on the
# ESP) never runs: kiln manages the ESP, and systemd-boot-update.service is
# never enabled.

packages = mkBefore([pkgs.systemd-boot-efi, pkgs.systemd-boot])
