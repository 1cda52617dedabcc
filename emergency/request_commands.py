"""Commands of requests for help: filing one (by an officer, or by anyone
through the public form) and ending it (assessed, rejected, merged).

Same conventions as `emergency.commands`.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field

from emergency.commands import Command, CommuneCode, PastTime, Text
from emergency.domain.help_request import REQUEST_KINDS

RequestKind = Literal[REQUEST_KINDS]  # type: ignore[valid-type]
Village = Annotated[str, Field(min_length=1, max_length=100)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 .-]{6,18}[0-9]$", description="a contact phone number")]
Description = Annotated[str, Field(min_length=1, max_length=1000)]
# A reference read aloud: 10 letters and digits of base32 (RFC 4648), case-insensitive.
Reference = Annotated[str, Field(pattern=r"^[A-Za-z2-7]{10}$")]


class FilePublicRequest(Command):
    """A request from the public form: no token, no household id, filed now."""

    name: ClassVar[str] = "file_public_request"
    commune_code: CommuneCode
    village: Village
    phone: Phone
    description: Description
    kind: RequestKind = "not_assessed"


class FileRequest(FilePublicRequest):
    """A request an officer records (at the commune office, by phone, on paper)."""

    name: ClassVar[str] = "file_request"
    incident_id: UUID | None = Field(None, description="the incident it is about; default: the open incident "
                                                       "whose areas cover the commune when it was filed")
    household_id: UUID | None = None
    filed_at: PastTime | None = Field(None, description="when it was received; default now")


class AssessRequest(Command):
    """The request is answered by an assessment of a household case, new or existing."""

    name: ClassVar[str] = "assess_request"
    request_id: UUID
    household_id: UUID
    assessment_id: UUID
    resolved_at: PastTime
    resolved_by: Text


class RejectRequest(Command):
    name: ClassVar[str] = "reject_request"
    request_id: UUID
    reason: Text
    resolved_at: PastTime
    resolved_by: Text


class MergeRequest(Command):
    """A duplicate: it is followed through the request it is merged into."""

    name: ClassVar[str] = "merge_request"
    request_id: UUID
    into_request_id: UUID
    resolved_at: PastTime
    resolved_by: Text
