"""Campaigns: one module per actor, each a plan of ``actions`` over hosts and time."""
