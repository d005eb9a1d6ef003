networking {
  host_name = mkDefault("from-module")
}

time_zone = mkForce("UTC")
locale    = mkForce("C.UTF-8")

ssh {
  port = mkDefault(22)
}
