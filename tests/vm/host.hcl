# The machine tests/vm/smoke.hcl boots: the default system plus the test backdoor.
networking {
  host_name = "kilntest"
}

testing {
  backdoor = true
}

ssh {
  enable = true
}
