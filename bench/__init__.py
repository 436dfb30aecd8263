"""Benchmarks: ``python -m bench [NAME ...] [--quick]`` prints one JSON line per figure."""
