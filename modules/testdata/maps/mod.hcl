kernel {
  sysctl = {
    "vm.swappiness"     = mkForce("60")
    "kernel.panic"      = "10"
    "net.core.somaxconn" = mkDefault("128")
  }
}

services "app" {
  environment = mkDefault({ MODE = "dev", DEBUG = "0" })
}
