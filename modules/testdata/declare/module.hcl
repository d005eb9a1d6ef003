option "myapp.port" {
  type        = number
  default     = 8080
  description = "The port myapp listens on."
  example     = 80
}

option "myapp.instances.<name>.dir" {
  type    = string
  default = "/var/lib/myapp/${name}"
}

option "myapp.greeting" {
  type    = string
  default = "hello from ${config.networking.host_name}"
}

config {
  when = length(config.myapp.instances) > 0

  services "myapp" {
    exec_start = format("/usr/bin/myapp --port %d %s", config.myapp.port, join(" ", [for n, i in config.myapp.instances : i.dir]))
  }
}
