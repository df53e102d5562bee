"""`new-workload`: a new workload app, its test and its platform.toml entry, written all at once or not at all."""
