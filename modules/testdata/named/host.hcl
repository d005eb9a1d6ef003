# eval: users.alice users.bob.uid groups
imports = ["./mod.hcl"]

users "alice" {
  uid    = 1000
  groups = ["wheel"]
}

users "bob" {}

groups "wheel" {}
