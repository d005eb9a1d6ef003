kernel {
  params  = mkBefore(["a-first"])
  modules = ["dropped"]
}

services "web" {
  after = ["a.target"]
}
