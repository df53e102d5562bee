"""The workflows' state machine definitions: built, drawn as a graph, checked against quotas."""
