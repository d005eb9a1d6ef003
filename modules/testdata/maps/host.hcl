# eval: kernel.sysctl services.app.environment
imports = ["./mod.hcl"]

kernel {
  sysctl = {
    "net.ipv4.ip_forward" = "1"
    "vm.swappiness"       = "10"
  }
}

services "app" {
  exec_start  = "/bin/app"
  environment = { LANG = "C.UTF-8", MODE = "prod" }
}
