# eval: services.nginx.exec_start etc.motd.text packages
# system
imports = ["./web.hcl"]

networking {
  host_name = "web"
}

packages = [pkgs.vim, pkgs["iputils-ping"]]
