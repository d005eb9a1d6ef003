# The base system: what every kiln system needs to boot to a login prompt
# (see docs/design.md §9 for why each package is here).

packages = mkBefore([
  pkgs.systemd, pkgs.udev, pkgs.dbus,
  pkgs.dash, pkgs.bash, pkgs.coreutils, pkgs.libc-bin,
  pkgs.grep, pkgs.sed, pkgs.findutils, pkgs.ncurses-base, pkgs.gzip,
  pkgs.hostname, pkgs.mawk, pkgs.login, pkgs.passwd, pkgs.util-linux,
  pkgs.kmod, pkgs.iproute2, pkgs.procps,
  pkgs.libpam-modules, pkgs.libpam-runtime,
  pkgs.base-files, pkgs.base-passwd, pkgs.less, pkgs.tzdata,
])

users "root" {
  uid    = 0
  group  = "root"
  home   = "/root"
  shell  = "/bin/bash"
  system = true
}

groups "root" {
  gid = 0
}

groups "users" {
  gid = 100
}

groups "nogroup" {
  gid = 65534
}

# Images label their root file system kiln-root. On first boot on a disk
# larger than the image, the root partition and file system grow to fill it.
mounts "/" {
  device      = mkDefault("/dev/disk/by-label/kiln-root")
  fs_type     = mkDefault("ext4")
  auto_resize = mkDefault(true)
}

assert {
  condition = contains(keys(config.mounts), "/")
  message   = "No root file system: declare mounts \"/\" { device = ..., fs_type = ... }."
}

assert {
  condition = length(regexall("^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$", config.networking.host_name)) == 1
  message   = "networking.host_name must be 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen."
}
