"""Workflows over files and tables, built on the core array functions and I/O."""
