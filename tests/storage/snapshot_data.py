"""A small rulebook and agency directory for snapshot tests, built from the models (no loader involved)."""

from __future__ import annotations

from pathlib import Path

from compliance.model.agency import Agency, AgencyDirectory
from compliance.model.rules import Indicator, Rulebook

HEADER = "period,agency,indicator,numerator,denominator,value,status,as_of"

RULEBOOK = Rulebook(
    indicators={
        "online_payment": Indicator(
            id="online_payment", name="Thanh toán trực tuyến", kind="ratio", frequency="month"
        ),
        "full_online": Indicator(id="full_online", name="Toàn trình", kind="ratio", frequency="quarter"),
        "par_index": Indicator(id="par_index", name="PAR Index", kind="value", frequency="year"),
        "db_land": Indicator(
            id="db_land",
            name="CSDL đất đai",
            kind="milestone",
            frequency="month",
            stages=("planned", "built", "connected", "shared"),
        ),
    },
    rules={},
    files={},
    revision="0" * 64,
)


def _agency(agency_id: str, parent: str | None = None) -> Agency:
    return Agency(
        agency_id, agency_id.upper(), "department", parent, "Head", "Giám đốc", f"{agency_id}@example.gov.vn"
    )


DIRECTORY = AgencyDirectory.of([_agency("tinh"), _agency("so-a", "tinh"), _agency("so-b", "tinh")])


def write_csv(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(HEADER + "\n" + body, encoding="utf-8")
    return path
