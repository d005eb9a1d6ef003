services "nginx" {
  description = "nginx on ${config.networking.host_name}"
  exec_start  = "${pkgs.nginx}/usr/sbin/nginx -g 'daemon off;'"
}

etc "motd" {
  text = "Welcome to ${config.networking.host_name}, running ${config.services.nginx.description}.\n"
}

kernel {
  # used only in a definition that loses: curl is not referenced
  package = mkDefault(pkgs.curl)
}

kernel {
  package = "linux-image-amd64"
}
