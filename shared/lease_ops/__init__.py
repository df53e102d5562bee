"""Operator side of the lease platform: never deployed, never vendored into an app."""
