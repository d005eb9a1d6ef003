networking {
  host_name = "beta"
}

kernel {
  sysctl = { "vm.swappiness" = "60" }
}
