users "alice" {
  shell  = "/bin/zsh"
  groups = ["audio"]
  uid    = mkDefault(2000)
}

groups "wheel" {
  gid = 10
}
