# Redis (redis-server) with typed bind addresses and port. Debian's
# package makes the user, the directories and enables the unit (its
# maintainer scripts, read by kiln); the module passes bind and port on
# the command line, over /etc/redis/redis.conf's.

option "redis.enable" {
  type        = bool
  default     = false
  description = "Run Redis (the redis-server package, redis-server.service)."
  example     = true
}

option "redis.bind" {
  type        = list(string)
  default     = ["127.0.0.1", "-::1"]
  description = "The addresses Redis listens on (redis.conf's bind; a leading - makes an address optional)."
  example     = ["0.0.0.0"]
}

option "redis.port" {
  type        = number
  default     = 6379
  description = "The TCP port Redis listens on."
  example     = 6380
}

config {
  when = config.redis.enable

  packages = [pkgs["redis-server"]]

  units "redis-server.service" {
    drop_in = format("[Service]\nExecStart=\nExecStart=/usr/bin/redis-server /etc/redis/redis.conf --supervised systemd --daemonize no --bind %s --port %d\n", join(" ", config.redis.bind), config.redis.port)
  }
}
