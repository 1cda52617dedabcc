"""The projections the system keeps, and where they live.

A part that adds a read model appends its class to `PROJECTIONS`; the
embedded runner, `emergency rebuild`, as-of replays and the Kafka consumers
then all carry it.
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.settings import Settings
from projections.base import Projection
from projections.cases import CaseProjection
from projections.coverage_projection import CoverageProjection
from projections.duplicates import DuplicateProjection
from projections.export_damage import DamageProjection
from projections.funds import FundsProjection
from projections.help_requests import HelpRequestProjection
from projections.runner import ProjectionSet
from projections.store import open_view_store

PROJECTIONS: tuple[type[Projection], ...] = (CaseProjection, CoverageProjection, DamageProjection, FundsProjection,
                                             DuplicateProjection, HelpRequestProjection)


def default_projections() -> list[Projection]:
    return [projection() for projection in PROJECTIONS]


def open_views(settings: Settings, only: Sequence[str] | None = None) -> ProjectionSet:
    """The view store named by the settings, with every projection (or those named `only`) ready in it."""
    chosen = [p for p in default_projections() if not only or p.name in only]
    return ProjectionSet(open_view_store(settings.views_url()), chosen)
