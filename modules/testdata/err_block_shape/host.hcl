networking = { host_name = "x" }

time_zone {
  value = "UTC"
}

users {
  uid = 1
}

kernel "linux" {
}

option "networking.host_name" {
  type = string
}

option "myapp.port" {
  type    = number
  colour  = "blue"
}
