kernel {
  params = ["b-1"]
}

services "web" {
  after = mkBefore(["first.target"])
}
