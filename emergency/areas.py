"""Administrative areas: the 34 provinces since 2025-07-01 and commune codes.

Province codes are the two-digit codes of Decision 19/2025/QĐ-TTg (shipped in
`reference/provinces.csv`). The official list of 3,321 communes is not shipped:
an incident declares the communes it affects, and a deployment may load the
official commune list (CSV `code,name,province`) to check those declarations.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from emergency.errors import InvalidInput

PROVINCE_CODE = re.compile(r"^\d{2}$")
COMMUNE_CODE = re.compile(r"^\d{5}$")


@dataclass(frozen=True)
class AreaRegistry:
    provinces: dict[str, str]
    # commune code -> province code; empty when no official list is loaded
    communes: dict[str, str] = field(default_factory=dict)

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
        if not self.communes:
            return
        if code not in self.communes:
            raise InvalidInput(f"unknown commune code {code!r}", field=field_path,
                               code="unknown_commune")
        if self.communes[code] != province:
            raise InvalidInput(
                f"commune {code} belongs to province {self.communes[code]}, not {province}",
                field=field_path, code="commune_not_in_province")


def _read_provinces() -> dict[str, str]:
    text = resources.files("emergency.reference").joinpath("provinces.csv").read_text("utf-8")
    return {row["code"]: row["name"] for row in csv.DictReader(text.splitlines())}


def load_registry(commune_list: Path | None = None) -> AreaRegistry:
    """The built-in provinces, plus the official commune list when given."""
    communes: dict[str, str] = {}
    if commune_list is not None:
        with commune_list.open(encoding="utf-8") as handle:
            communes = {row["code"]: row["province"] for row in csv.DictReader(handle)}
    return AreaRegistry(provinces=_read_provinces(), communes=communes)
