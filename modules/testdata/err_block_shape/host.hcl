networking = { host_name = "x" }

time_zone {
  value = "UTC"
}

users {
  uid = 1
}

kernel "linux" {
}

assert {
  condition = true
}
