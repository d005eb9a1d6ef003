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
