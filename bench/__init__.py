"""Benchmarks that print figures (never assert times); each script's docstring says how."""
