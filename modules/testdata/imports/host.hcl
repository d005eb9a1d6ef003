# eval: kernel.modules networking.host_name
imports = ["./mods", "./extra/c.hcl"]

kernel {
  modules = ["host"]
}
