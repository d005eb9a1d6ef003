# eval: networking.host_name kernel.modules console.autologin_user
networking {
  host_name = mkIf(config.console.serial_getty, "serial")
}

kernel {
  modules = mkIf(false, ["dropped"])
}

console {
  autologin_user = mkIf(config.ssh.enable, "root")
}
