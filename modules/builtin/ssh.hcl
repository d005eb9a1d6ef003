# The OpenSSH server, when ssh.enable is set.

config {
  when = config.ssh.enable

  packages = [pkgs.openssh-server]

  # sshd's privilege separation user, as Debian's postinst makes it.
  users "sshd" {
    system = true
    group  = "nogroup"
    home   = "/run/sshd"
    shell  = "/usr/sbin/nologin"
  }
}
