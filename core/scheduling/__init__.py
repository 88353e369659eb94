"""Scheduling: when posts go out, and what to do when a network failed."""
