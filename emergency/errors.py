"""Typed errors raised by commands: each names the field it is about.

The API turns them into 4xx bodies `{"error": code, "field": path, "message": ...}`;
the CLI prints them. Nothing is recorded when one is raised.
"""

from __future__ import annotations


class AidError(Exception):
    """Base class: a command was refused and nothing was recorded."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, str | None]:
        return {"error": self.code, "field": self.field, "message": self.message}


class FieldError(ValueError):
    """A model validator's refusal that spans fields, naming the one to fix
    (pydantic gives it no location of its own; the API reads `field` back)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class InvalidInput(AidError):
    """The command itself is malformed or breaks a domain rule."""

    status = 422
    code = "invalid"


class NotFound(AidError):
    """A referenced incident, household, entitlement... does not exist."""

    status = 404
    code = "not_found"


class Conflict(AidError):
    """The command clashes with what is already recorded."""

    status = 409
    code = "conflict"


class Forbidden(AidError):
    """The caller may not do this (outside its role or scope)."""

    status = 403
    code = "forbidden"
