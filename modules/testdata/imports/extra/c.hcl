networking {
  host_name = "imported"
}

kernel {
  modules = ["c"]
}
