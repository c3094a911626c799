"""Speed of encore-jax against NumPy / SciPy / scikit-learn (``python -m benchmarks.run``)."""
