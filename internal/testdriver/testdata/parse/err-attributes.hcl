timeout = "soon"

machine "m" {
  config = "m.hcl"
  memory = 10
  cpu    = 2
}

step "wait_for_unit" {
}

step "succeed" {
  command = "true"
  expect  = "(unclosed"
  unit    = "x.service"
}

step "wait_for_open_port" {
  port = 70000
}

step "select_generation" {
  generation = "two"
}

step "succeed" {
  command = 42
  timeout = "-1s"
}
