imports = ["./mod.hcl"]

networking {
  host_name = config.services.web.description
}
