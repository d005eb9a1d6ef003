imports = ["./${config.networking.host_name}.hcl"]
