packages = ["vim"]
