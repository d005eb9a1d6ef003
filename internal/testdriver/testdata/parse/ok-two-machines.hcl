machine "server" {
  config = "server.hcl"
}

machine "client" {
  image = "/var/tmp/client.img"
  cpus  = 2
}

step "wait_for_unit" {
  machine = "server"
  unit    = "sshd.service"
}

step "wait_until_succeeds" {
  machine = "client"
  command = "ping -c1 10.0.2.2"
}
