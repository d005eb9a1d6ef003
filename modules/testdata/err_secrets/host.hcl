# Issue 9, item 11: secrets must not enter the store.
etc "ssh/ssh_host_ed25519_key" {
  text = "-----BEGIN OPENSSH PRIVATE KEY-----\n"
  mode = "0600"
}

etc "app/token" {
  text = "t"
  mode = "0640"
}

users "alice" {
  hashed_password_file = "$6$salt$hash"
}

users "carol" {
  hashed_password_file = "secrets/carol.hash"
}
