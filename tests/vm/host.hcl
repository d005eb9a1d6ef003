# The machine tests/vm/smoke.hcl boots: a host name and the test backdoor,
# no SSH server (a host without ssh must build and boot), and a
# socket-activated echo service for wait_for_open_port.
networking {
  host_name = "kilntest"
}

testing {
  backdoor = true
}

units "kiln-echo.socket" {
  text = <<EOT
[Socket]
ListenStream=7777
Accept=yes
[Install]
WantedBy=sockets.target
EOT
}

units "kiln-echo@.service" {
  text = <<EOT
[Service]
ExecStart=/bin/cat
StandardInput=socket
EOT
}
