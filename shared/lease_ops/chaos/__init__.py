"""Fault injection and invariant checking: what `make chaos` (and a short run in `make test`) proves."""
