substituters = [
  "s3://kiln-cache/prod?endpoint=s3.example.org:8333&region=eu-west-1",
  "https://cache.example.org",
  "ftp://cache.example.org/kiln",
  "cache.example.org",
]

trusted_public_keys = [
  file("cache.example.org-1.public"),
  "fleet-1:c2hvcnQ=",
]
