config {
  when = "yes"
  time_zone = "UTC"
}

config {
  imports = ["./x.hcl"]
  option "a.b" {
    type = string
  }
}
