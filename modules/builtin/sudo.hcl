# sudo, when any sudo rule is declared: the system builder writes the rules
# to /etc/sudoers.d/kiln (Debian's /etc/sudoers includes the directory).

config {
  when = length(config.sudo.rules) > 0

  packages = [pkgs.sudo]
}
