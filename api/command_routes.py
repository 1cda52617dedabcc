"""Write routes: one per command, assessments in batches, and `/sync`:
writes of any kind in one request, for teams back from a day offline.

A command's request body is the command model itself (`emergency.commands`),
minus the ids the path already carries. Every write takes an
`Idempotency-Key`; a first write answers 201, a replay 200 with
`Idempotent-Replayed: true`. All of them go through the group-commit writer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Awaitable, Callable, Literal

from aiohttp import web
from pydantic import BaseModel, Field, create_model

from api.auth import COORDINATORS, FIELD_WRITERS
from api.bodies import validate
from api.models import (
    MAX_BATCH,
    AssessmentBatch,
    BatchAssessment,
    BatchItemResult,
    BatchResult,
    Body,
    ErrorBody,
    IdempotencyKey,
    WriteResult,
)
from api.routing import PATH_PARAMETER, Call, Route, add_routes, respond
from api.writer import Result
from emergency import commands, request_commands
from emergency.duplicate_commands import ReopenDuplicate, ResolveDuplicate
from emergency.errors import AidError, InvalidInput
from emergency.funding import commands as funding_commands
from emergency.service import Submission

# (path, command, roles, summary)
COMMAND_ROUTES: tuple[tuple[str, type[commands.Command], frozenset[str], str], ...] = (
    ("/incidents", commands.OpenIncident, COORDINATORS, "Open an incident"),
    ("/incidents/{incident_id}/areas", commands.ExtendIncidentAreas, COORDINATORS,
     "Add provinces or communes found affected later"),
    ("/incidents/{incident_id}/close", commands.CloseIncident, COORDINATORS, "Close an incident"),
    ("/households", commands.RegisterHousehold, FIELD_WRITERS, "Register an affected household"),
    ("/households/{household_id}/corrections", commands.CorrectHousehold, FIELD_WRITERS,
     "Correct a household's details"),
    ("/households/{household_id}/assessments", commands.AssessDamage, FIELD_WRITERS, "Submit a damage assessment"),
    ("/households/{household_id}/decisions", commands.RecordDecision, COORDINATORS,
     "Approve, adjust or reject an entitlement"),
    ("/households/{household_id}/disbursements", commands.RecordDisbursement, FIELD_WRITERS, "Record a disbursement"),
    ("/households/{household_id}/disbursements/{disbursement_id}/receipt", commands.ConfirmReceipt, FIELD_WRITERS,
     "Confirm the household received a disbursement"),
    ("/households/{household_id}/disbursements/{disbursement_id}/corrections", commands.CorrectDisbursement,
     COORDINATORS, "Void a disbursement or restate its amount"),
    # Possible duplicate households (README, Duplicate households).
    ("/duplicates/{pair_id}/resolution", ResolveDuplicate, COORDINATORS,
     "Resolve a possible duplicate pair: different households, or the same one (merged)"),
    ("/duplicates/{pair_id}/reopening", ReopenDuplicate, COORDINATORS,
     "Reopen a resolved pair: a merge is undone"),
    # Requests for help (README, Requests for help); the public form is in api.request_routes.
    ("/requests", request_commands.FileRequest, FIELD_WRITERS,
     "Record a request for help (not assessed, or disputing an entitlement or payment)"),
    ("/requests/{request_id}/assessment", request_commands.AssessRequest, FIELD_WRITERS,
     "End a request by an assessment of a household case, new or existing"),
    ("/requests/{request_id}/rejection", request_commands.RejectRequest, FIELD_WRITERS,
     "End a request by rejecting it, with a reason"),
    ("/requests/{request_id}/merge", request_commands.MergeRequest, FIELD_WRITERS,
     "End a request by merging it into another"),
    # Relief committees: a campaign, its funds, the money coming in and passed on.
    ("/campaigns", funding_commands.LaunchCampaign, COORDINATORS, "Launch a relief campaign"),
    ("/campaigns/{campaign_id}/extensions", funding_commands.ExtendCampaign, COORDINATORS,
     "Extend a campaign's receiving or distribution window"),
    ("/campaigns/{campaign_id}/funds", funding_commands.OpenFund, COORDINATORS, "Open a committee's fund for a campaign"),
    ("/funds/{fund_id}/contributions", funding_commands.RecordContribution, COORDINATORS,
     "Record a contribution: a bank transfer, a cash receipt, or goods"),
    ("/funds/{from_fund_id}/allocations", funding_commands.AllocateFunds, COORDINATORS,
     "Allocate money or goods from this fund to another"),
)


def body_model(command: type[commands.Command], path: str) -> type[BaseModel]:
    """The command without the fields its path carries: the documented request body."""
    in_path = set(PATH_PARAMETER.findall(path))
    if not in_path:
        return command
    fields: dict[str, Any] = {name: (info.annotation, info) for name, info in command.model_fields.items()
                              if name not in in_path}
    return create_model(f"{command.__name__}Body", __config__=command.model_config, __doc__=command.__doc__,
                        **fields)


def write_response(result: Result) -> web.Response:
    if isinstance(result, AidError):
        raise result
    if result.replayed:
        return respond(WriteResult.of(result), 200, {"Idempotent-Replayed": "true"})
    return respond(WriteResult.of(result), 201)


def command_handler(command: type[commands.Command]) -> Callable[[Call], Awaitable[web.Response]]:
    async def handle(call: Call) -> web.Response:
        key = call.idempotency_key()
        raw = await call.body()
        if not isinstance(raw, dict):
            raise InvalidInput("the body must be a JSON object", code="model_type")
        # The path names the record; the body may repeat it, but not contradict it.
        for name, value in call.request.match_info.items():
            if name in raw and str(raw[name]).lower() != value.lower():
                raise InvalidInput(f"{name} differs from the one in the path", field=name, code="path_mismatch")
            raw[name] = value
        return write_response(await call.writer.submit(call.submission(validate(command, raw), key)))

    return handle


class _UncheckedItems(Body):
    """The batch's outer shape; each item is checked on its own, so one bad
    item does not hold back the others."""

    items: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


# Every single-write command, by its public name, with the roles its route allows.
BY_NAME: dict[str, tuple[type[commands.Command], frozenset[str]]] = {
    command.name: (command, roles) for _, command, roles, _ in COMMAND_ROUTES}
CommandName = Literal[tuple(BY_NAME)]  # type: ignore[valid-type]


class SyncItem(Body):
    command: CommandName = Field(description="the command's name, as in `WriteResult.command`")  # type: ignore[valid-type]
    idempotency_key: IdempotencyKey | None = Field(
        None, description="made on the device when the write was recorded; a resent item is not recorded twice")
    body: dict[str, Any] = Field(description="the command's fields, as its own route takes them, with the ids "
                                             "its path would carry")


class SyncBatch(Body):
    """Writes of any kind made offline, in the order they were made."""

    items: list[SyncItem] = Field(min_length=1, max_length=MAX_BATCH)


def _item_result(result: Result) -> BatchItemResult:
    if isinstance(result, AidError):
        return BatchItemResult(status=result.status, error=ErrorBody.of(result))
    return BatchItemResult(status=200 if result.replayed else 201, outcome=WriteResult.of(result))


Parsed = tuple[commands.Command, str | None]  # an item's command and its own idempotency key


async def _run_batch(call: Call, parse: Callable[[int, Any], Parsed]) -> web.Response:
    """Check each item on its own, submit the good ones together in their
    order, and answer one result per item."""
    header_key = call.idempotency_key()
    batch = validate(_UncheckedItems, await call.body())
    results: dict[int, Result] = {}
    queued: dict[int, Submission] = {}
    for i, raw in enumerate(batch.items):
        try:
            command, own_key = parse(i, raw)
        except AidError as error:
            results[i] = error
            continue
        # Without its own key, an item's key derives from the request's.
        key = own_key or (f"{header_key}#{i}" if header_key else None)
        # One caller, one request: its first submission carries what they all share.
        first = next(iter(queued.values()), None)
        queued[i] = replace(first, command=command, idempotency_key=key) if first else call.submission(command, key)
    if queued:
        results.update(zip(queued, await call.writer.submit_many(list(queued.values()))))
    items = [_item_result(results[i]) for i in range(len(batch.items))]
    return respond(BatchResult(
        results=items, recorded=sum(r.status == 201 for r in items), replayed=sum(r.status == 200 for r in items),
        refused=sum(r.error is not None for r in items)))


async def assess_batch(call: Call) -> web.Response:
    def parse(i: int, raw: Any) -> Parsed:
        item = validate(BatchAssessment, raw, prefix=f"items.{i}")
        return item.assessment, item.idempotency_key
    return await _run_batch(call, parse)


async def sync(call: Call) -> web.Response:
    def parse(i: int, raw: Any) -> Parsed:
        item = validate(SyncItem, raw, prefix=f"items.{i}")
        command, roles = BY_NAME[item.command]
        call.principal.check_role(roles)
        return validate(command, item.body, prefix=f"items.{i}.body"), item.idempotency_key
    return await _run_batch(call, parse)


def setup(app: web.Application) -> None:
    routes = [Route("POST", path, summary, command_handler(command), WriteResult, roles,
                    body=body_model(command, path), status=201, tag="writes")
              for path, command, roles, summary in COMMAND_ROUTES]
    routes.append(Route("POST", "/assessments/batch", "Submit up to 1,000 damage assessments at once",
                        assess_batch, BatchResult, FIELD_WRITERS, body=AssessmentBatch, bulk=True, tag="writes"))
    routes.append(Route("POST", "/sync", "Submit up to 1,000 writes of any kind at once, in order (offline sync)",
                        sync, BatchResult, FIELD_WRITERS, body=SyncBatch, bulk=True, tag="writes"))
    add_routes(app, routes)
