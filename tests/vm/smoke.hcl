# kiln test tests/vm/smoke.hcl: boot, drive the machine through the backdoor,
# reboot in place and into a one-shot generation, power off.
machine "kilntest" {
  config = "host.hcl"
}

step "wait_for_unit" {
  unit = "multi-user.target"
}

step "succeed" {
  command = "hostname"
  expect  = "^kilntest\n$"
}

step "succeed" {
  name    = "framing"
  command = <<-EOT
    printf '%s\n' "it's \"quoted\"" 'multi
    line' "$(head -c 300000 /dev/zero | tr '\0' x | wc -c)"
  EOT
  expect  = "^it's \"quoted\"\nmulti\nline\n300000\n$"
}

step "fail" {
  command = "cat; exit 3"
}

step "wait_for_open_port" {
  port = 7777
}

step "succeed" {
  name    = "a host without ssh has no sshd"
  command = "! test -e /usr/sbin/sshd && ! systemctl cat ssh.service 2>/dev/null && echo none"
  expect  = "^none\n$"
}

step "reboot" {}

step "select_generation" {
  generation = 1
}

step "reboot" {}

step "succeed" {
  name    = "systemd-boot took the one-shot entry"
  command = <<-EOT
    test ! -e /sys/firmware/efi/efivars/LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
    tr -d '\000' </sys/firmware/efi/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
  EOT
  expect  = "kiln-generation-1\\.conf$"
}

step "shutdown" {}
