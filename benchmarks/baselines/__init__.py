"""The two designs users have today, re-implemented from their published descriptions, flaws included.

Do not fix them: the benchmark measures what users of these designs get.
"""
