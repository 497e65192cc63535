"""Runnable performance workloads for setpoint.

Each module is a script (``python -m benchmarks.<name>``) that measures setpoint beside a
reference implementation in the same run, prints a table with the machine it ran on and writes the
figures as JSON under ``benchmarks/results/``. Benchmarks are never part of the test run and tests
never assert on their figures.
"""
