"""The burst benchmark of issue 14 (target 3): thousands of Step Functions executions against one table, in
simulated time, driving the real lease core, unmodified, against a DynamoDB model that enforces what moto
does not.

Run it with ``python -m benchmarks.burst`` (``--help``; ``--quick`` for a small run, about half a minute on 2
cores). It writes ``out/bench/burst/results.json``, and ``benchmarks/BURST.md`` (with ``BURST.json`` beside it
and the burst targets in ``benchmarks/RESULTS.md``) for a run at issue 14's sizes (``BURST.md`` next to the JSON
otherwise). moto answers a request in 5-10 ms of CPU, so a run at issue 14's sizes (hundreds of thousands of
requests) takes about an hour per design: the designs run side by side, one process each, and
``python -m benchmarks.burst.combine`` (``combine``) merges their results into the one report.

How it fits together:

- ``simulation``: a discrete-event loop (a heap of simulated times) and worker threads that take turns with
  it, one at a time. A Lambda invocation runs the real code in a worker; every pause of that code (a
  DynamoDB request's latency, botocore's retry backoff, the core's own pauses after a lost race) advances
  simulated time instead of sleeping, while other executions run.
- ``dynamodb_model``: moto's in-process DynamoDB stores the items and evaluates the expressions; the model
  sits in each client's ``before-send`` event and adds per-partition throughput (token buckets of 1,000
  WCU/s and 3,000 RCU/s per partition key), TransactionConflict for overlapping transactions, the 400 KB
  item size, latencies, and a meter that bills every request by DynamoDB's rules.
- ``step_functions``: the rendered analytics definition (``lease_ops.provisioning.workflows.render_definition``) gives
  the Retry, Catch, wait ladder and handoff re-check the simulated executions follow; a callback service
  answers the core's SendTaskSuccess.
- ``executions``: one simulated execution per start: Acquire, CheckLease, Wait, Process (its lease check,
  then 30-120 s of work), Release, and the failure path.
- ``core_calls``: the only module that imports the core (the acquire/release orchestration of the Lambdas,
  the Process guard, the holder count through ``inspect``), so that the core's rework repoints one file;
  ``designs`` puts the core and the two baselines (``benchmarks/baselines``) behind one interface.
- ``observer``: what is measured per prefix (admissions, waits, idle slots, over-admission checked against
  the table after every write, lost wakeups); ``report``: the targets, BURST.md and the JSON.
- ``fast_paths``: performance-only shortcuts through moto and botocore (same answers, tested).
"""
