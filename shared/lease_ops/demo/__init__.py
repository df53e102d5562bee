"""`make demo`: two workloads' bursts on the embedded platform, with a report and a timeline plot."""
