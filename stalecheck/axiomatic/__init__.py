"""Axiomatic engine: AArch64 events, candidate executions and the Arm memory model."""
