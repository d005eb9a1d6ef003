packages = [pkgs.vmi, pkgs.nginx]

services "web" {
  exec_start = "${pkgs.ngnix}/usr/sbin/nginx"
}

etc "x" {
  text = pkgs.zzzzzzzz
}
