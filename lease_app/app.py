"""Lease platform app: admin API, reclaim of leases held by failed executions, and the sweeper."""

from chalice import Chalice

from lease_core.admin_routes import lease_admin
from lease_core.cleanup_functions import lease_cleanup

app = Chalice(app_name="shared-lease-platform")
app.register_blueprint(lease_admin)
app.register_blueprint(lease_cleanup)
