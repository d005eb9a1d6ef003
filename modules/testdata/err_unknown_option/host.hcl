networking {
  hostname = "web"
}

sevices "web" {
  exec_start = "/bin/true"
}

kernel {
  params = ["x=${config.networking.dchp}"]
}

frobnicate = true

users "alice" {
  shel = "/bin/zsh"
}

config {
  when = true
  ssh {
    prot = 22
  }
}
