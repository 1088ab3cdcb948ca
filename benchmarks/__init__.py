"""Benchmarks: each runs tunebook and a named baseline on the same work and prints ratios.

Run one with ``python -m benchmarks.<name>``; they are not part of the test suite.
"""
