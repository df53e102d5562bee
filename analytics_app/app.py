"""Analytics workload: the shared lease Lambdas plus its own ``process`` step."""

from chalice import Chalice

from chalicelib.aggregation import aggregate_records
from lease_core.lambda_functions import lease_functions
from lease_core.process_guard import requires_lease

app = Chalice(app_name="shared-lease-platform-analytics")
app.register_blueprint(lease_functions)


@app.lambda_function(name="process")
@requires_lease  # works only while this run holds a live lease (redrive, retries, timeouts)
def process(event, context):
    return aggregate_records(event)
