# Issue 9, item 12: settings nothing declares.
console {
  autologin_user = "mallory"
}

bootloader {
  timeout = -1
}

mounts "/" {
  fs_type = "tmpfs"
  device  = "tmpfs"
}

mounts "/boot" {
  device  = "tmpfs"
  fs_type = "tmpfs"
}
