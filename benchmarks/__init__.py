"""Reproducible benchmarks: ``python -m benchmarks.<name> --seed 0``. Never collected by pytest."""
