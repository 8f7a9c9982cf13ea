"""Sigma YAML to compiled rules: loading, caching, logsources, placeholders, tuning.

Nothing here knows an engine: a compiled rule is SQL text for a dialect plus the facts
the compiler learnt about it. The package itself imports nothing, so that reading one
small module (the dialect, the logsources) does not pull in pySigma.
"""
