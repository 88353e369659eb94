"""Every model module, imported together: the metadata migrations and checks compare against."""

from __future__ import annotations

from storage import (
    models,
    models_analytics,
    models_api,
    models_files,
    models_llm,
    models_networks,
    models_ops,
    models_slack,
    models_twofa,
)
from storage.models import Base

metadata = Base.metadata

__all__ = [
    "metadata",
    "models",
    "models_analytics",
    "models_api",
    "models_files",
    "models_llm",
    "models_networks",
    "models_ops",
    "models_slack",
    "models_twofa",
]
