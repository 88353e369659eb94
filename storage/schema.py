"""Every model module, imported together: the metadata migrations and checks compare against."""

from __future__ import annotations

from storage import (
    models,
    models_analytics,
    models_files,
    models_llm,
    models_networks,
    models_ops,
    models_slack,
)
from storage.models import Base

metadata = Base.metadata

__all__ = [
    "metadata",
    "models",
    "models_analytics",
    "models_files",
    "models_llm",
    "models_networks",
    "models_ops",
    "models_slack",
]
