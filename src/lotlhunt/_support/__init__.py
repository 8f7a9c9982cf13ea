"""Infrastructure that knows nothing of Sigma or logs: worker processes, GC pauses, YAML,
text made safe for where it goes."""
