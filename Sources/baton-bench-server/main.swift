print("baton-bench-server: not built yet")
