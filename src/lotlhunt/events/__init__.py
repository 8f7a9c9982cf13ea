"""The events table: the contract between readers and engines (core columns, field columns)."""
