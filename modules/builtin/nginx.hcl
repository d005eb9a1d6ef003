# nginx virtual hosts. Debian's package makes www-data, the log files and
# the default site and enables nginx.service (its maintainer scripts,
# read by kiln); each virtual host is a server block in
# /etc/nginx/sites-enabled/kiln.conf.

option "nginx.virtual_hosts.<name>.server_names" {
  type        = list(string)
  default     = ["${name}"]
  description = "The host names this virtual host answers (server_name)."
  example     = ["example.org", "www.example.org"]
}

option "nginx.virtual_hosts.<name>.listen" {
  type        = number
  default     = 80
  description = "The port it listens on."
  example     = 8080
}

option "nginx.virtual_hosts.<name>.root" {
  type        = string
  default     = "/var/www/${name}"
  description = "The directory it serves (root)."
  example     = "/srv/www"
}

option "nginx.virtual_hosts.<name>.extra_config" {
  type        = string
  default     = ""
  description = "More directives inside the server block."
  example     = "location /api/ { proxy_pass http://127.0.0.1:8000; }\n"
}

config {
  when = length(config.nginx.virtual_hosts) > 0

  packages = [pkgs.nginx]

  # Changed virtual hosts reload nginx on a switch.
  units "nginx.service" {
    drop_in = format("[Unit]\nX-Reload-Triggers=%s\n", replace(jsonencode(config.nginx.virtual_hosts), "%", "%%"))
  }

  etc "nginx/sites-enabled/kiln.conf" {
    text = join("", [for n, v in config.nginx.virtual_hosts : format("# virtual host %s\nserver {\n  listen %d;\n  listen [::]:%d;\n  server_name %s;\n  root %s;\n  index index.html;\n%s}\n", n, v.listen, v.listen, join(" ", v.server_names), v.root, v.extra_config)])
  }
}
