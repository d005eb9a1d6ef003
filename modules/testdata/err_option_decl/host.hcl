option "networking.host_name" {
  type = string
}

option "myapp.port" {
  type    = number
  colour  = "blue"
}

option "myapp.<name>" {
  type = string
}

option "bad path.x" {
  type = string
}

option "imports.x" {
  type = string
}

option "myapp.port.sub" {
  type = strin
}
