machine "m" {
  config = "m.hcl"
