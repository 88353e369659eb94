"""The workspace: who is talking (people), roles, settings, time zones, the brand voice and
connected accounts (commands, connect, OAuth)."""
