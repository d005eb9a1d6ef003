# PostgreSQL with a typed port, databases and roles. Debian's packages
# make the postgres user, the cluster (pg_createcluster: a first-run
# unit) and enable postgresql.service (their maintainer scripts, read by
# kiln). The port goes into the main cluster's conf.d (Debian 12's
# PostgreSQL 15); the roles and
# databases are made, if missing, by kiln-postgresql-setup.service once
# the server answers.

option "postgresql.enable" {
  type        = bool
  default     = false
  description = "Run PostgreSQL (the postgresql package: the main cluster of Debian 12's version 15, postgresql@15-main.service)."
  example     = true
}

option "postgresql.port" {
  type        = number
  default     = 5432
  description = "The TCP port of the main cluster."
  example     = 5433
}

option "postgresql.roles.<name>.login" {
  type        = bool
  default     = true
  description = "Whether the role can log in."
  example     = false
}

option "postgresql.databases.<name>.owner" {
  type        = string
  default     = "postgres"
  description = "The role owning the database (declare it in postgresql.roles)."
  example     = "app"
}

config {
  when = config.postgresql.enable

  packages = [pkgs.postgresql]

  # A new port restarts the cluster on a switch (its unit changes).
  units "postgresql@15-main.service" {
    drop_in = "[Service]\nEnvironment=KILN_POSTGRESQL_PORT=${config.postgresql.port}\n"
  }

  etc "postgresql/15/main/conf.d/kiln.conf" {
    text = "port = ${config.postgresql.port}\n"
  }

  etc "kiln/postgresql-setup.sh" {
    text = join("", concat(
      ["set -e\n", format("export PGPORT=%d\n", config.postgresql.port),
      "for i in $(seq 120); do pg_isready -q && break; sleep 1; done\n"],
      [for n, r in config.postgresql.roles : format("psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname = '%s'\" | grep -q 1 || psql -c 'CREATE ROLE \"%s\" %s'\n", n, n, r.login ? "LOGIN" : "NOLOGIN")],
      [for n, d in config.postgresql.databases : format("psql -tAc \"SELECT 1 FROM pg_database WHERE datname = '%s'\" | grep -q 1 || createdb -O '%s' '%s'\n", n, d.owner, n)],
    ))
  }

  services "kiln-postgresql-setup" {
    description = "kiln: PostgreSQL roles and databases"
    type        = "oneshot"
    user        = "postgres"
    exec_start  = "/bin/sh /etc/kiln/postgresql-setup.sh"
    # The cluster's own unit, not only postgresql.service (a oneshot that
    # stays active while a switch restarts the cluster for a new port):
    # a switch starting this unit starts the cluster first.
    after       = ["postgresql.service", "postgresql@15-main.service"]
    wants       = ["postgresql.service", "postgresql@15-main.service"]
  }
}
