"""Benchmarks: throughput per stage and end to end."""
