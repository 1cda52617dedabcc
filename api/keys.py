"""What the application and each request hold for the handlers, under typed keys."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from api.auth import Authenticator, Principal
from api.executors import Heavy
from api.read_models import ReadModels
from api.writer import Writer
from emergency.service import AidService
from infra.settings import Settings
from projections.runner import EmbeddedRunner

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", AidService)
WRITER = web.AppKey("writer", Writer)
AUTH = web.AppKey("auth", Authenticator)
READ_MODELS = web.AppKey("read_models", ReadModels)
RUNNER = web.AppKey("runner", EmbeddedRunner)
OPENAPI = web.AppKey("openapi", dict[str, Any])
HEAVY = web.AppKey("heavy", Heavy)
HEALTH = web.AppKey("health", ThreadPoolExecutor)

# Per request: its id (see api.middleware) and, once authenticated, the caller.
REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)
