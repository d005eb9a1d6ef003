ssh {
  port = "twenty-two"
}

kernel {
  params = "quiet"
  sysctl = ["a"]
}

users "alice" {
  groups = [["nested"]]
}
