"""Lease platform app: admin API, reclaim on execution failure and the sweeper (built in issue 6)."""

from chalice import Chalice

app = Chalice(app_name="shared-lease-platform")
