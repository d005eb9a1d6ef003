# What VM tests need inside the system under test.

option "testing.backdoor" {
  type        = bool
  default     = false
  description = "Run a root shell on the virtio console /dev/hvc0 (kiln-backdoor.service) for the VM test driver. Never in production systems."
  example     = true
}

config {
  when = config.testing.backdoor

  # systemd-getty-generator starts a getty on /dev/hvc0 (a virtual
  # console); the backdoor needs the port to itself. An empty unit file
  # masks the unit, as a link to /dev/null would (NixOS does the same).
  units "serial-getty@hvc0.service" {
    text = ""
  }

  # hvc0 resets its termios when its last file is closed, so a
  # `stty -F /dev/hvc0 raw` before the shell opens the port is undone and
  # an interactive shell echoes and prompts. Keep the port open across stty
  # and let bash read its commands from it as a script (no prompt, no
  # echo): a ready line, then raw command text.
  units "kiln-backdoor.service" {
    text = <<EOT
[Unit]
Description=kiln test backdoor (root shell on hvc0)
DefaultDependencies=no
Requires=dev-hvc0.device
After=dev-hvc0.device
# A switch must never cut the test driver off.
X-RestartIfChanged=false
[Service]
Environment=PATH=/run/wrappers/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb HOME=/root
ExecStart=/bin/bash --noprofile --norc -c 'exec </dev/hvc0 >/dev/hvc0 2>&1; stty raw -echo; echo kiln-backdoor-ready; exec /bin/bash --noprofile --norc /dev/hvc0'
KillSignal=SIGHUP
[Install]
WantedBy=sysinit.target
EOT
  }
}
