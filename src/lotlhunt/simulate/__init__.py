"""Simulated networks with an intruder inside, written as real EVTX and JSON logs."""

from .scenario import FORMATS, LOGS_DIR, SimulationSummary, estimate_events, simulate_volt_typhoon

__all__ = ["FORMATS", "LOGS_DIR", "SimulationSummary", "estimate_events", "simulate_volt_typhoon"]
