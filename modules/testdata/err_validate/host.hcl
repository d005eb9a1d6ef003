etc "both" {
  text   = "a"
  source = "/b"
}

etc "../escape" {
  text = "x"
}

units "backup" {
  text = "[Timer]\n"
}

services "bad" {
  type = "daemon"
}

mounts "srv" {
  device = "/dev/vdb"
}

users "Alice" {
  uid = -1
}

groups "ok" {
  gid = 70000
}
