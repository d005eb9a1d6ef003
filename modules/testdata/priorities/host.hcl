# eval: networking.host_name time_zone locale ssh.port bootloader.timeout
imports = ["./mod.hcl"]

networking {
  host_name = "web1"
}

time_zone = "Europe/Paris"
locale    = mkOverride(10, "en_US.UTF-8")

ssh {
  port = 2222
}
