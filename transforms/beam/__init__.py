"""Beam wrappers: the one place where the pure functions of tokenmill.transforms become DoFns."""
