print("baton-sim: not built yet"); while false {}
