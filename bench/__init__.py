"""Benchmarks: every figure beside the raw nats-py figure measured in the same run, as a ratio."""
