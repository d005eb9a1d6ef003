# Issue 9, item 10: two users with one uid, two groups with one gid.
users "alice" {
  uid = 1500
}

users "bob" {
  uid = 1500
}

groups "ops" {
  gid = 2000
}

groups "dev" {
  gid = 2000
}
