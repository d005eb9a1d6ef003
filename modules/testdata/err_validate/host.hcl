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
