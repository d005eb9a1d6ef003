# An example host: the README walks through it.
networking { host_name = "web1" }
ssh { enable = true }

users "alice" {
  groups          = ["adm"]
  authorized_keys = [file("alice.pub")]
}

services "hello" {
  type       = "oneshot"
  exec_start = "${pkgs.coreutils}/bin/echo hello"
}

mounts "/srv" {
  device  = "tmpfs"
  fs_type = "tmpfs"
}

packages = [pkgs.curl]
