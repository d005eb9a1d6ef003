# Issue 9, items 1-4: values that would add lines to generated files.
users "bob" {
  shell = "/bin/bash\nevil2::0:0::/:/bin/sh"
  home  = "/home/a:b"
}

services "x" {
  exec_start  = "/bin/sh -c id \\"
  user        = "nobody"
  description = "ok\rUser=root"
}

kernel {
  params = ["quiet\ninitrd /evil"]
  sysctl = { "vm.swappiness" = "1\nkernel.modules_disabled = 1" }
}

bootloader {
  console_mode = "max\neditor yes"
}

etc "x\ny" {
  text = "a"
}

mounts "/srv" {
  device  = "#/dev/vdb"
  fs_type = "ext4"
}
