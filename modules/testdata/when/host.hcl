# eval: ssh.enable users services units
imports = ["./mod.hcl"]

ssh {
  enable = false
}

myapp {
  enable = true
}
