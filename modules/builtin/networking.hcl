# Networking beyond the host name: with networking.dhcp, systemd-networkd
# configures every ethernet link and systemd-resolved (a separate package
# in bookworm) takes the DNS servers DHCP hands out; the system builder
# enables it and links /etc/resolv.conf to its stub when it is present.
# Interfaces configured one by one bring systemd-resolved too: their dns
# and domains reach the resolver through it.

config {
  when = config.networking.dhcp || length(config.networking.interfaces) > 0

  packages = [pkgs.systemd-resolved]
}

# The firewall is an nftables table loaded by nft.

config {
  when = config.networking.firewall.enable

  packages = [pkgs.nftables]
}
