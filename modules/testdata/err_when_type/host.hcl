config {
  when = "yes"
  time_zone = "UTC"
}

config {
  when = config.ssh.port
  locale = "C"
}
