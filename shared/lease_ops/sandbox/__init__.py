"""The embedded AWS (a moto server with the local runner) and what runs on it: `make local`, `make sandbox`."""
