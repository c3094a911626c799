"""Workflows over files and tables: streaming counts, compose to a file, compare, diagnose."""
