"""Batch workload: the shared lease Lambdas plus its own chunked ``process`` step."""

from chalice import Chalice

from chalicelib.transformation import transform_chunk
from lease_core.lambda_functions import lease_functions
from lease_core.process_guard import requires_lease

app = Chalice(app_name="shared-lease-platform-batch")
app.register_blueprint(lease_functions)


@app.lambda_function(name="process")
@requires_lease  # works only while this run holds a live lease (redrive, retries, timeouts)
def process(event, context):
    return transform_chunk(event)
