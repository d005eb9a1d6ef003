services "web" {
  description = "web on ${config.time_zone}"
}

time_zone = "${config.networking.host_name}/UTC"
