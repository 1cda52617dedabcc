"""The projections the system keeps, and where they live.

Each entry names a `Projection` class as `module:Class`; a part that adds a
read model appends it here, and the embedded runner, `emergency rebuild`
and as-of replays then all carry it.
"""

from __future__ import annotations

import importlib

from infra.settings import Settings
from projections.base import Projection
from projections.runner import ProjectionSet
from projections.store import open_view_store

PROJECTIONS: tuple[str, ...] = ("projections.cases:CaseProjection", "projections.coverage_projection:CoverageProjection",
                               "projections.export_damage:DamageProjection", "projections.funds:FundsProjection",
                               "projections.duplicates:DuplicateProjection")


def default_projections() -> list[Projection]:
    found = []
    for entry in PROJECTIONS:
        module, _, cls = entry.partition(":")
        found.append(getattr(importlib.import_module(module), cls)())
    return found


def open_views(settings: Settings) -> ProjectionSet:
    """The view store named by the settings, with every projection ready in it."""
    return ProjectionSet(open_view_store(settings.views_url()), default_projections())
