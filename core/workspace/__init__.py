"""The workspace: its people and roles, settings, time zones, voice and connected accounts."""
