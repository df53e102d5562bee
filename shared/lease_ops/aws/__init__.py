"""The AWS account the operator side talks to, and the lease table in it."""
