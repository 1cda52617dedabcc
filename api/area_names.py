"""Official names beside the area codes of a response body.

A body with `province_code` (and `commune_code`) also inherits one of these
(`class FundMoney(CommuneNamed, Body)`) to carry `province_name` (and
`commune_name`) from the list in use (`emergency.areas`): null for a code that
list does not have, such as a commune of a record made before the July 2025
rearrangement.
"""

from __future__ import annotations

from pydantic import BaseModel, computed_field

from emergency import areas


class ProvinceNamed(BaseModel):
    @computed_field(description="the province's official name; null for a code the current list does not have")
    @property
    def province_name(self) -> str | None:
        return areas.province_name(getattr(self, "province_code"))


class CommuneNamed(ProvinceNamed):
    @computed_field(description="the commune's official name (Xã, Phường or Đặc khu …); null for a code the "
                                "current list does not have")
    @property
    def commune_name(self) -> str | None:
        return areas.commune_name(getattr(self, "commune_code"))
