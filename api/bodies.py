"""Request input: JSON bodies read within a size limit, and pydantic validation
turned into the API's error body.

Order matters: the media type and size are refused before a byte is parsed,
malformed JSON is a 400, and a well-formed body that breaks a model is a 422
naming the first offending field by its dotted path (`areas.0.commune_codes.1`).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import pydantic_core
from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError

from emergency.errors import AidError, FieldError, InvalidInput

M = TypeVar("M", bound=BaseModel)


class MalformedJson(AidError):
    status = 400
    code = "malformed_json"


class UnsupportedMediaType(AidError):
    status = 415
    code = "unsupported_media_type"


class TooLarge(AidError):
    status = 413
    code = "body_too_large"


class BodyTimeout(AidError):
    status = 408
    code = "body_timeout"


async def read_json(request: web.Request, limit: int, timeout: float) -> Any:
    if request.content_type != "application/json" or (request.charset or "utf-8").lower() != "utf-8":
        raise UnsupportedMediaType("send the body as application/json (UTF-8)", field="Content-Type")
    too_large = TooLarge(f"the body is larger than {limit} bytes", field="body")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    # No (or a lying) Content-Length: read no more than the limit, and a
    # client that sends it a byte at a time no longer than the timeout.
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {timeout:g} s", field="body") from None
    try:
        return pydantic_core.from_json(b"".join(chunks), allow_inf_nan=False)
    except ValueError as error:
        raise MalformedJson(f"the body is not valid JSON: {error}", field="body") from None


def error_from_validation(error: ValidationError, prefix: str = "") -> InvalidInput:
    first = error.errors(include_url=False)[0]
    cause = first.get("ctx", {}).get("error")
    # A rule over several fields (a model validator) names the one to fix.
    named = (cause.field,) if isinstance(cause, FieldError) else ()
    path = ".".join(str(part) for part in (*first["loc"], *named))
    field = ".".join(p for p in (prefix, path) if p) or None
    return InvalidInput(first["msg"], field=field, code=first["type"])


def validate(model: type[M], value: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise error_from_validation(error, prefix) from None


def validate_query(model: type[M], query: MultiMapping[str]) -> M:
    """Query parameters are strings; the model converts them (lax mode)."""
    for name in query:
        if len(query.getall(name)) > 1:
            raise InvalidInput(f"give {name} once", field=name, code="repeated_parameter")
    return validate(model, dict(query))
