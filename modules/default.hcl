# The default kiln system, built when no configuration is given: it boots
# to a login prompt on the serial console, with DHCP on every ethernet
# link and an SSH server.

networking {
  host_name = "kiln"
  dhcp      = true
}

console {
  serial_getty = true
}

ssh {
  enable = true
}
