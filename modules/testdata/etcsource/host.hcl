# eval: etc
etc "motd" {
  source = "./motd.txt"
}

etc "issue" {
  text = file("./motd.txt")
  mode = "0644"
}
