networking {
  host_name = "alpha"
}

kernel {
  sysctl = { "vm.swappiness" = "10" }
}
