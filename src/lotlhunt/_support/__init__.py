"""Infrastructure that knows nothing of Sigma or logs: worker processes, GC pauses, YAML."""
