imports = ["./missing.hcl"]
