"""What `make bootstrap`, `deploy`, `caps`, `workflows`, `run` and `destroy` create, change and remove."""
