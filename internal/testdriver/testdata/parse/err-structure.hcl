machine "a" {
  config = "a.hcl"
  image  = "a.img"
}

machine "a" {
  config = "again.hcl"
}

machine "b" {
}

step "wait_for_units" {
  machine = "a"
  unit    = "x"
}

step "succeed" {
  command = "true"
}

step "succeed" {
  machine = "c"
  command = "true"
}
