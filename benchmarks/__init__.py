"""`make bench`: this project's lease core against the two designs users have today, measured in one run."""
