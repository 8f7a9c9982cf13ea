"""Readers, one module per input format, each turning a file into batches of the events table."""
