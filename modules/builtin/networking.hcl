# Networking beyond the host name: with networking.dhcp, systemd-networkd
# configures every ethernet link and systemd-resolved (a separate package
# in bookworm) takes the DNS servers DHCP hands out; the system builder
# enables it and links /etc/resolv.conf to its stub when it is present.

config {
  when = config.networking.dhcp

  packages = [pkgs.systemd-resolved]
}
