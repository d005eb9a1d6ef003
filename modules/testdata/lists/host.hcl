# eval: kernel.params kernel.modules services.web.after
imports = ["./a.hcl", "./b.hcl"]

kernel {
  params  = ["host-1", "host-2"]
  modules = mkForce(["only-this"])
}

services "web" {
  exec_start = "/bin/true"
  after      = mkAfter(["last.target"])
}
