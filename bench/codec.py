"""The stored-event codecs, per event: today's tagged JSON against the plain form of new stores.

    python bench/codec.py [--households 3000] [--contributions 5000] [--repeat 7]

Set-up (not timed, cached in var/bench/): a synthetic typhoon and relief
campaign played through the service once into a tagged SQLite store; its
events are the mix (registrations, assessments, entitlements, decisions,
payments, bank lines, fund movements, idempotency records), read back as
domain events and written again in each format.

Measured, per event over the whole mix (best of `--repeat` passes):
- the write path: the mapper's `to_stored_event` (payload models dumped,
  then encoded) in each format, and the encoding alone;
- the aggregates' read path: the mapper's `to_domain_event` (decoded, then
  typed by the payload models);
- the projections' read path: `from_stored_event`, the envelope decode;
- the bare JSON libraries on the plain form (orjson, msgspec, the
  standard library), the reason orjson was chosen;
- bytes per event in each format.
Writes bench/results/codec.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import msgspec
from common import WORK, print_table, write_results
from eventsourcing.persistence import StoredEvent

from emergency.application import AidApplication  # noqa: E402
from emergency.campaign_scenario import CampaignConfig, run_campaign  # noqa: E402
from emergency.envelope import from_stored_event  # noqa: E402
from emergency.event_format import PLAIN, TAGGED, decode_plain, encode_plain  # noqa: E402
from emergency.scenario import ScenarioConfig, run_scenario  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stores import build_service, open_application  # noqa: E402


def template(households: int, contributions: int) -> Path:
    """The played scenario whose events are the mix (made once per size)."""
    path = WORK / f"codec-{households}-{contributions}.sqlite"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.sqlite")
        partial.unlink(missing_ok=True)
        service = build_service(Settings(database_url=f"sqlite:///{partial}", event_format=TAGGED))
        try:
            print("playing the scenario (once)", flush=True)
            run_scenario(service, ScenarioConfig(households=households))
            run_campaign(service, CampaignConfig(statement=WORK / f"codec-statement-{contributions}.csv",
                                                 contributions=contributions))
        finally:
            service.app.close()
        partial.rename(path)
    return path


def stored_events(path: Path) -> list[StoredEvent]:
    with open_application(Settings(database_url=f"sqlite:///{path}")) as app:
        assert app.event_format == TAGGED
        return list(app.recorder.select_notifications(start=1, limit=10**7))


def per_event(works: dict[str, tuple[Callable[[Any], Any], Sequence[Any]]], repeat: int) -> dict[str, float]:
    """Best µs per item of each work over its items, in `repeat` rounds that
    run every work once in turn: on a shared machine each sees the same load."""
    best = dict.fromkeys(works, float("inf"))
    for _ in range(repeat):
        for name, (work, items) in works.items():
            started = time.perf_counter()
            for item in items:
                work(item)
            best[name] = min(best[name], (time.perf_counter() - started) / len(items) * 1e6)
    return best


def mapper_of(form: str) -> Any:
    return AidApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "EMERGENCY_EVENT_FORMAT": form}).mapper


def row(path: str, what: str, form: str, micros: float, today: float | None = None) -> dict[str, Any]:
    return {"path": path, "what": what, "format": form, "us_per_event": round(micros, 2),
            "events_per_s": round(1e6 / micros), "speedup": round(today / micros, 2) if today else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--contributions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tagged_stored = stored_events(template(args.households, args.contributions))
    mappers = {TAGGED: mapper_of(TAGGED), PLAIN: mapper_of(PLAIN)}
    events = [mappers[TAGGED].to_domain_event(s) for s in tagged_stored]
    stored = {TAGGED: tagged_stored, PLAIN: [mappers[PLAIN].to_stored_event(e) for e in events]}
    assert [from_stored_event(s) for s in stored[PLAIN]] == [from_stored_event(s) for s in stored[TAGGED]]
    # What the mapper hands its transcoder: the event's state, payload models dumped.
    states = [mappers[TAGGED].transcoder.decode(s.state) for s in tagged_stored]
    plain_bytes = [s.state for s in stored[PLAIN]]
    tagged_transcoder = mappers[TAGGED].transcoder.tagged
    repeat = args.repeat

    results: list[dict[str, Any]] = []

    def compare(path: str, what: str, work: dict[str, Callable[[Any], Any]], items: dict[str, Sequence[Any]]) -> None:
        found = per_event({form: (work[form], items[form]) for form in (TAGGED, PLAIN)}, repeat)
        results.append(row(path, what, TAGGED, found[TAGGED]))
        results.append(row(path, what, PLAIN, found[PLAIN], found[TAGGED]))

    compare("write", "mapper.to_stored_event", {f: mappers[f].to_stored_event for f in mappers},
            {TAGGED: events, PLAIN: events})
    compare("write", "encode the state", {TAGGED: tagged_transcoder.encode, PLAIN: lambda s: encode_plain(dict(s))},
            {TAGGED: states, PLAIN: states})
    compare("aggregates", "mapper.to_domain_event", {f: mappers[f].to_domain_event for f in mappers}, stored)
    compare("projections", "from_stored_event (envelope)", {TAGGED: from_stored_event, PLAIN: from_stored_event},
            stored)

    # The bare libraries, on the plain form (today's on its tagged form), each against today's.
    tagged_bytes = [s.state for s in tagged_stored]
    msgspec_decoder, msgspec_encoder = msgspec.json.Decoder(), msgspec.json.Encoder(enc_hook=str)
    decoders = per_event({"decode: json + tag hook (today)": (tagged_transcoder.decode, tagged_bytes),
                          "decode: orjson.loads": (decode_plain, plain_bytes),
                          "decode: msgspec.json.decode": (msgspec_decoder.decode, plain_bytes),
                          "decode: json.loads": (json.loads, plain_bytes)}, repeat)
    encoders = per_event({"encode: json + tags (today)": (tagged_transcoder.encode, states),
                          "encode: orjson.dumps": (lambda s: encode_plain(dict(s)), states),
                          # msgspec writes a UTC time as …Z, not isoformat()'s +00:00: another envelope.
                          "encode: msgspec (times differ)": (msgspec_encoder.encode, states),
                          "encode: json.dumps": (lambda s: json.dumps(s, default=str, ensure_ascii=False,
                                                                      separators=(",", ":")).encode(), states)},
                         repeat)
    for found in (decoders, encoders):
        today = next(iter(found.values()))
        results += [row("library", what, TAGGED if "today" in what else PLAIN, micros,
                        None if "today" in what else today) for what, micros in found.items()]

    sizes = [{"format": f, "events": len(stored[f]), "bytes_per_event": round(sum(len(s.state) for s in stored[f])
                                                                              / len(stored[f]), 1)} for f in stored]
    print_table(f"codecs per event, {len(events):,} events of a played scenario (best of {repeat})", results,
                ["path", "what", "format", "us_per_event", "events_per_s", "speedup"])
    print_table("stored size", sizes, ["format", "events", "bytes_per_event"])
    write_results("codec", {"households": args.households, "contributions": args.contributions, "repeat": repeat,
                            "events": len(events)}, results + sizes)


if __name__ == "__main__":
    main()
