# eval: myapp myapp.instances.blue.dir services
imports = ["./module.hcl"]

myapp {
  port = 9090
  instances "blue" {}
  instances "green" {
    dir = "/srv/green"
  }
}
