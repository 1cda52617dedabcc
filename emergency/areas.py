"""Administrative areas since 2025-07-01: 34 provinces and 3,321 communes, with their names.

The official list comes from the `vietnam-provinces` package (the General
Statistics Office's register of the codes of Decision 19/2025/QĐ-TTg). It keeps
codes as integers; here they are the decision's strings: a province 2 digits,
a commune 5 digits, zero-padded ("01", "00070"). A deployment may replace the
communes with a newer official list (CSV `code,name,province`).

New declarations (an incident's areas, a fund's committee, an earmark) are
checked against the list in use; what is already recorded keeps the codes it
was recorded with, and a code the list no longer has reads with no name.
The lookups below are dictionary reads of the list in use, loaded once.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vietnam_provinces import Province, Ward

from emergency.errors import InvalidInput

PROVINCE_CODE = re.compile(r"^\d{2}$")
COMMUNE_CODE = re.compile(r"^\d{5}$")


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    province_code: str


class AreaRegistry:
    """Provinces and communes by code, and the checks new declarations pass."""

    def __init__(self, provinces: dict[str, str], communes: dict[str, Commune]):
        self.provinces = provinces
        self.communes = communes
        by_province: dict[str, list[str]] = {code: [] for code in provinces}
        for commune in sorted(communes.values(), key=lambda c: c.code):
            by_province.setdefault(commune.province_code, []).append(commune.code)
        self._by_province = {code: tuple(found) for code, found in by_province.items()}

    def province_name(self, code: str | None) -> str | None:
        return self.provinces.get(code) if code else None

    def commune_name(self, code: str | None) -> str | None:
        commune = self.communes.get(code) if code else None
        return commune.name if commune else None

    def communes_of(self, province: str) -> tuple[str, ...]:
        """The province's commune codes, in code order (none for an unknown province)."""
        return self._by_province.get(province, ())

    def check_province(self, code: str, field_path: str) -> None:
        if not PROVINCE_CODE.match(code):
            raise InvalidInput(f"province code must be 2 digits, got {code!r}", field=field_path,
                               code="invalid_province_code")
        if code not in self.provinces:
            raise InvalidInput(f"unknown province code {code!r}", field=field_path,
                               code="unknown_province")

    def check_commune(self, code: str, province: str, field_path: str) -> None:
        if not COMMUNE_CODE.match(code):
            raise InvalidInput(f"commune code must be 5 digits, got {code!r}", field=field_path,
                               code="invalid_commune_code")
        commune = self.communes.get(code)
        if commune is None:
            raise InvalidInput(f"unknown commune code {code!r}", field=field_path,
                               code="unknown_commune")
        if commune.province_code != province:
            raise InvalidInput(
                f"commune {code} ({commune.name}) belongs to province {commune.province_code}, not {province}",
                field=field_path, code="commune_not_in_province")


@lru_cache(maxsize=1)
def official() -> AreaRegistry:
    """The list shipped by `vietnam-provinces`."""
    provinces = {f"{int(p.code):02d}": p.name for p in Province.iter_all()}
    communes = {}
    for ward in Ward.iter_all():
        code = f"{int(ward.code):05d}"
        communes[code] = Commune(code, ward.name, f"{int(ward.province_code):02d}")
    return AreaRegistry(provinces, communes)


@lru_cache(maxsize=8)
def load_registry(commune_list: Path | None = None) -> AreaRegistry:
    """The official list, or its provinces with the communes of a newer list (CSV `code,name,province`)."""
    if commune_list is None:
        return official()
    with commune_list.open(encoding="utf-8") as handle:
        communes = {row["code"]: Commune(row["code"], row["name"], row["province"]) for row in csv.DictReader(handle)}
    return AreaRegistry(official().provinces, communes)


_in_use: AreaRegistry | None = None


def use(registry: AreaRegistry) -> None:
    """Make `registry` the list the lookups below answer from (the store wiring does, once)."""
    global _in_use
    _in_use = registry


def in_use() -> AreaRegistry:
    return _in_use or official()


def province_name(code: str | None) -> str | None:
    """The province's official name; None for a code the list in use does not have."""
    return in_use().province_name(code)


def commune_name(code: str | None) -> str | None:
    """The commune's official name (Xã …, Phường …, Đặc khu …); None for a code the list does not have."""
    return in_use().commune_name(code)


def communes_of(province: str) -> tuple[str, ...]:
    return in_use().communes_of(province)


def provinces() -> dict[str, str]:
    """Every province: code -> name, in code order."""
    return dict(in_use().provinces)
