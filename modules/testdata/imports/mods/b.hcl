imports = ["../host.hcl"]

kernel {
  modules = ["b"]
}
