networking {
  host_name = "-bad-"
}

ssh {
  port = 70000
}

assert {
  condition = config.ssh.port < 65536
  message   = "ssh.port must be below 65536, not ${config.ssh.port}."
}

assert {
  condition = config.ssh.port != 22
  message   = "never printed"
}

config {
  when = config.ssh.enable
  assert {
    condition = false
    message   = "not reported: ssh is disabled"
  }
}

config {
  when = !config.ssh.enable
  assert {
    condition = config.networking.host_name == "kiln"
    message   = "reported: host name is ${config.networking.host_name}"
  }
}
