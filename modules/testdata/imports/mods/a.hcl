imports = ["../extra/c.hcl", "./b.hcl"]

kernel {
  modules = ["a"]
}
