"""`make watch`: a live view of the table's leases and queues."""
