# eval: networking.interfaces networking.vlans networking.bridges networking.firewall timers journald sudo packages
# A server: static addresses, a VLAN, a bridge, the firewall, a timer,
# journald settings and sudo rules (the built-in modules add
# systemd-resolved, nftables and sudo).
networking {
  dhcp = false

  interfaces "eth0" {
    addresses = ["192.168.1.10/24", "2001:db8::10/64"]
    gateways  = ["192.168.1.1"]
    routes    = [{ destination = "10.0.0.0/8", gateway = "192.168.1.254" }]
    dns       = ["192.168.1.1"]
    domains   = ["example.internal"]
  }
  interfaces "uplink" {
    mac_address = "52:54:00:12:34:56"
    dhcp        = true
  }

  vlans "eth0.10" {
    id        = 10
    interface = "eth0"
  }
  bridges "br0" {
    interfaces = ["eth1"]
  }

  firewall {
    enable            = true
    allowed_tcp_ports = [80, 443]
    interfaces "eth1" {
      allowed_udp_ports = [161]
    }
  }
}

timers "backup" {
  on_calendar = "daily"
}

journald {
  settings = { Storage = "persistent" }
}

sudo {
  rules "admins" {
    groups = ["sudo"]
  }
}
