option "myapp.enable" {
  type    = bool
  default = false
}

config {
  when = config.myapp.enable

  services "myapp" {
    exec_start = "/usr/bin/myapp"
  }

  config {
    when = config.ssh.enable
    # not evaluated: the when above is false
    units "myapp-ssh.socket" {
      text = undefined_function()
    }
  }
}

config {
  when = !config.myapp.enable
  units "never.timer" {
    text = "[Timer]\n"
  }
}
