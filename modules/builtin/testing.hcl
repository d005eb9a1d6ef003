# What VM tests need inside the system under test.

option "testing.backdoor" {
  type        = bool
  default     = false
  description = "Run a root shell on the virtio console /dev/hvc0 (kiln-backdoor.service) for the VM test driver. Never in production systems."
  example     = true
}

config {
  when = config.testing.backdoor

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
ExecStart=/bin/bash --noprofile --norc -c 'stty -F /dev/hvc0 raw -echo; echo kiln-backdoor-ready >/dev/hvc0; exec /bin/bash --noprofile --norc </dev/hvc0 >/dev/hvc0 2>&1'
KillSignal=SIGHUP
[Install]
WantedBy=sysinit.target
EOT
  }
}
