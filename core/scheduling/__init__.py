"""Scheduling: when posts go out (commands, free slots) and the dispatcher tick (jobs)."""
