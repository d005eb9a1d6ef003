# One machine: steps may leave machine out.
timeout = "10m"

machine "server" {
  config = "../hosts/server.hcl"
  memory = 2048
}

step "wait_for_unit" {
  unit = "multi-user.target"
}

step "succeed" {
  name    = "host name"
  command = "hostname"
  expect  = "^server\n$"
}

step "succeed" {
  command = <<-EOT
    set -e
    id alice
    test -d /home/alice
  EOT
  timeout = "30s"
}

step "fail" {
  command = "systemctl is-active nonexistent.service"
  expect  = "inactive"
}

step "wait_until_succeeds" {
  command = "journalctl -b | grep -q 'Reached target'"
}

step "wait_until_fails" {
  command = "pgrep -x sleep"
}

step "wait_for_open_port" {
  port = 22
}

step "wait_for_console_text" {
  regexp = "login: $"
}

step "select_generation" {
  generation = 1
}

step "reboot" {}
step "shutdown" {}
step "start" {}
step "crash" {}
