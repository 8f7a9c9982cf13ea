"""The pySigma backend: Sigma detection logic to SQL expressions, per dialect."""
