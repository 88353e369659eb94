"""The audit log people read (`audit`, `audit export`), its upkeep (retention) and the data
a workspace owns (`herald workspace export`, `forget`)."""
