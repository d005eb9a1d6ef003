imports = ["./a.hcl", "./b.hcl"]

networking {
  host_name = "host"
}
