"""Generate the example indicator snapshots of the Tiền Giang deployment (2023).

Run from anywhere: ``python examples/make_snapshots.py``. The output is deterministic (fixed
seed) and is written to ``examples/snapshots/``. The agency list comes from
``rules/agencies.csv``; the indicators and rules it feeds are in ``rules/*.yaml``.

Files written:

- ``2022-12.csv``: the districts' digitisation rows only (Chỉ thị 02/CT-TTg applies to
  districts from 01/12/2022, so they have reported since December).
- ``2023-01.csv`` … ``2023-06.csv``: one row per (agency, indicator) that a rule needs,
  for every agency active in that month.
- ``2023-04-revised.csv``: Cái Bè re-reports its April figures on 2023-05-10 (``as_of``).
- ``2023-07-so-tnmt.csv``: Sở TN&MT reports the land database as ``connected`` in July.
- ``2022-par-index.csv``: the provincial PAR index for 2022 (yearly ``value`` rows).

The story (everything not listed passes its targets with a margin):

- online-payment-30 (>= 30 %, for 2, resolve 32 %): UBND huyện Cái Bè is at 26-29 % from
  January to April, then 33-35 % in May and June. Its April figure (29.x %) is revised on
  2023-05-10 to 31.x %: a pass, but below the 32 % needed to resolve the open task.
  UBND huyện Tân Phú Đông stays at 21-28 % all six months.
- on-time-95: Sở Xây dựng drops to about 91 % in March only.
- full-online (district, rollup): UBND huyện Chợ Gạo's own dossiers are above 50 % every
  month, but its communes are near 30 % in January and February, so the roll-up (district
  plus communes) is under 50 % in those two months; from March it passes.
- Commune merge: xã Hòa Định (cg-hoadinh) reports January-April; it is replaced by
  xã Xuân Định (cg-xuandinh), which reports from May.
- digitised-commune (from 2023-06-01, min_denominator 20): xã Đạo Thạnh has 5-18 dossiers
  a month (insufficient); the newly merged xã Xuân Định is at about 38 % in June (fail).
- digitised-district (max_age_days 62, missing_is_violation): UBND huyện Gò Công Tây's
  June digitisation row is missing, so it is evaluated on May data, stale from 2023-08-02.
- db-land-shared (milestone, Sở TN&MT): planned in January, built from February,
  connected only in July (after the 2023-06-30 deadline).
- par-index-80: UBND huyện Tân Phước scores 79.86 for 2022 (below 80).
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENCIES_CSV = ROOT / "rules" / "agencies.csv"
OUT = ROOT / "examples" / "snapshots"

SEED = 2023
MONTHS = range(1, 7)
HEADER = ["period", "agency", "indicator", "numerator", "denominator", "value", "status", "as_of"]

# Agencies left out of a rule's scope (see rules/targets.yaml) need no rows for it.
NO_ONLINE_PAYMENT = {"thanh-tra", "vp-ubnd", "tt-phvc"}
NO_ON_TIME = {"thanh-tra", "tt-phvc"}
NO_PAR_INDEX = {"tt-phvc"}

# Which indicators each level reports monthly.
LEVEL_INDICATORS = {
    "department": ["online_payment", "on_time"],
    "district": ["online_payment", "on_time", "full_online", "digitised"],
    "commune": ["full_online", "digitised"],
}

# Typical monthly denominators (low, high) per level and indicator.
DENOMINATORS = {
    ("department", "online_payment"): (60, 1500),
    ("department", "on_time"): (80, 2000),
    ("district", "online_payment"): (500, 2800),
    ("district", "on_time"): (800, 5000),
    ("district", "full_online"): (500, 2500),
    ("district", "digitised"): (800, 5000),
    ("commune", "full_online"): (60, 300),
    ("commune", "digitised"): (60, 300),
}

# Relative workload (0-1) inside those ranges: Sở GTVT (driving licences) and the populous
# districts handle many dossiers, Văn phòng UBND tỉnh and the island district Tân Phú Đông few.
SIZE = {
    "so-noivu": 0.10,
    "so-tuphap": 0.60,
    "so-khdt": 0.70,
    "so-taichinh": 0.15,
    "so-congthuong": 0.30,
    "so-nnptnt": 0.25,
    "so-gtvt": 1.00,
    "so-xaydung": 0.20,
    "so-tnmt": 0.80,
    "so-tttt": 0.08,
    "so-ldtbxh": 0.35,
    "so-vhttdl": 0.12,
    "so-khcn": 0.05,
    "so-gddt": 0.30,
    "so-yte": 0.45,
    "vp-ubnd": 0.0,
    "tp-mytho": 0.85,
    "tx-gocong": 0.40,
    "tx-cailay": 0.45,
    "h-caibe": 1.00,
    "h-cailay": 0.75,
    "h-chauthanh": 0.90,
    "h-chogao": 0.70,
    "h-gocongdong": 0.55,
    "h-gocongtay": 0.50,
    "h-tanphudong": 0.10,
    "h-tanphuoc": 0.35,
}

# Ratio range of an agency that simply passes: above target (and above any resolve level).
PASSING = {
    "online_payment": (0.34, 0.62),
    "on_time": (0.962, 0.995),
    "full_online": (0.53, 0.72),
    "digitised": (0.64, 0.90),
}

# Story overrides: ratio per month (January … June).
RATIO_STORY = {
    ("h-caibe", "online_payment"): [0.262, 0.271, 0.284, 0.291, 0.336, 0.352],
    ("h-tanphudong", "online_payment"): [0.218, 0.236, 0.247, 0.259, 0.266, 0.274],
    ("so-xaydung", "on_time"): [0.972, 0.968, 0.912, 0.975, 0.979, 0.983],
    ("h-chogao", "full_online"): [0.556, 0.561, 0.566, 0.572, 0.578, 0.583],
    ("cg-ttchogao", "full_online"): [0.301, 0.322, 0.548, 0.561, 0.575, 0.590],
    ("cg-binhphan", "full_online"): [0.284, 0.305, 0.532, 0.547, 0.558, 0.566],
    ("cg-hoadinh", "full_online"): [0.296, 0.318, 0.541, 0.553, None, None],
    ("cg-xuandinh", "digitised"): [None, None, None, None, 0.352, 0.381],
}
# Story overrides: denominator per month.
DENOMINATOR_STORY = {
    ("h-chogao", "full_online"): [640, 610, 700, 690, 720, 735],  # small own share: communes weigh
    ("cg-ttchogao", "full_online"): [290, 275, 296, 284, 300, 298],
    ("cg-binhphan", "full_online"): [210, 198, 225, 214, 230, 236],
    ("cg-hoadinh", "full_online"): [185, 172, 190, 181, None, None],
    ("mt-daothanh", "full_online"): [9, 7, 12, 10, 14, 11],
    ("mt-daothanh", "digitised"): [14, 11, 17, 15, 18, 16],
}
# Rows deliberately absent: (agency, indicator, month).
MISSING = {("h-gocongtay", "digitised", 6)}

# Sở TN&MT: land database stage per month; July comes in its own file.
DB_LAND = ["planned", "built", "built", "built", "built", "built"]
DB_LAND_JULY = "connected"

# Cái Bè's April revision, reported on 2023-05-10 (late-synced payment and digitisation data).
REVISION_AGENCY = "h-caibe"
REVISION_AS_OF = "2023-05-10"
REVISED_RATIOS = {"online_payment": 0.311, "digitised": 0.842}

# PAR index 2022 (points out of 100); every other agency in scope draws from PASS_PAR.
PAR_STORY = {"h-tanphuoc": 79.86}
PASS_PAR = (81.0, 92.5)


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def load_agencies() -> list[dict[str, str]]:
    with AGENCIES_CSV.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def active_in_month(agency: dict[str, str], month: int) -> bool:
    """True when the agency's active window overlaps the month."""
    start, end = dt.date(2023, month, 1), month_end(2023, month)
    if agency["active_from"] and dt.date.fromisoformat(agency["active_from"]) > end:
        return False
    if agency["active_until"] and dt.date.fromisoformat(agency["active_until"]) < start:
        return False
    return True


def indicators_for(agency: dict[str, str]) -> list[str]:
    names = list(LEVEL_INDICATORS.get(agency["level"], []))
    if agency["id"] in NO_ONLINE_PAYMENT and "online_payment" in names:
        names.remove("online_payment")
    if agency["id"] in NO_ON_TIME and "on_time" in names:
        names.remove("on_time")
    return names


class Generator:
    """Draws a stable profile per (agency, indicator), then varies it a little each month."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.profiles: dict[tuple[str, str], tuple[int, float]] = {}

    def profile(self, agency: dict[str, str], indicator: str) -> tuple[int, float]:
        key = (agency["id"], indicator)
        if key not in self.profiles:
            low, high = DENOMINATORS[(agency["level"], indicator)]
            r_low, r_high = PASSING[indicator]
            size = SIZE.get(agency["id"], self.rng.random())
            den = low + (high - low) * size * self.rng.uniform(0.9, 1.1)
            self.profiles[key] = (
                round(min(high, max(low, den))),
                self.rng.uniform(r_low + 0.01, r_high - 0.01),
            )
        return self.profiles[key]

    def ratio_row(self, agency: dict[str, str], indicator: str, month: int | None) -> tuple[int, int]:
        """Numerator and denominator for a 2023 month (1-6), or for December 2022 (None)."""
        base_den, base_ratio = self.profile(agency, indicator)
        key = (agency["id"], indicator)
        den = DENOMINATOR_STORY[key][month - 1] if month and key in DENOMINATOR_STORY else None
        if den is None:
            low, high = DENOMINATORS[(agency["level"], indicator)]
            den = min(high, max(low, round(base_den * self.rng.uniform(0.85, 1.15))))
        ratio = RATIO_STORY[key][month - 1] if month and key in RATIO_STORY else None
        if ratio is None:
            r_low, r_high = PASSING[indicator]
            ratio = min(r_high, max(r_low, base_ratio + self.rng.uniform(-0.01, 0.01)))
        return round(ratio * den), den


def ratio_line(period: str, agency: str, indicator: str, num: int, den: int, as_of: str = "") -> list[str]:
    return [period, agency, indicator, str(num), str(den), "", "", as_of]


def write(name: str, rows: list[list[str]]) -> None:
    path = OUT / name
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    print(f"{path.relative_to(ROOT)}: {len(rows)} rows")


def main() -> None:
    agencies = load_agencies()
    gen = Generator(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    april: dict[tuple[str, str], tuple[int, int]] = {}

    december: list[list[str]] = []
    for agency in agencies:
        if agency["level"] == "district":
            num, den = gen.ratio_row(agency, "digitised", None)
            december.append(ratio_line("2022-12", agency["id"], "digitised", num, den))
    write("2022-12.csv", december)

    for month in MONTHS:
        period = f"2023-{month:02d}"
        rows: list[list[str]] = []
        for agency in agencies:
            if not active_in_month(agency, month):
                continue
            for indicator in indicators_for(agency):
                if (agency["id"], indicator, month) in MISSING:
                    continue
                num, den = gen.ratio_row(agency, indicator, month)
                if month == 4:
                    april[(agency["id"], indicator)] = (num, den)
                rows.append(ratio_line(period, agency["id"], indicator, num, den))
            if agency["id"] == "so-tnmt":
                rows.append([period, "so-tnmt", "db_land", "", "", "", DB_LAND[month - 1], ""])
        write(f"{period}.csv", rows)

    revised: list[list[str]] = []
    for agency in agencies:
        if agency["id"] != REVISION_AGENCY:
            continue
        for indicator in indicators_for(agency):
            num, den = april[(REVISION_AGENCY, indicator)]
            if indicator in REVISED_RATIOS:
                num = round(REVISED_RATIOS[indicator] * den)
            revised.append(ratio_line("2023-04", REVISION_AGENCY, indicator, num, den, REVISION_AS_OF))
    write("2023-04-revised.csv", revised)

    write("2023-07-so-tnmt.csv", [["2023-07", "so-tnmt", "db_land", "", "", "", DB_LAND_JULY, ""]])

    par: list[list[str]] = []
    for agency in agencies:
        if agency["level"] not in ("department", "district") or agency["id"] in NO_PAR_INDEX:
            continue
        score = PAR_STORY.get(agency["id"], round(gen.rng.uniform(*PASS_PAR), 2))
        par.append(["2022", agency["id"], "par_index", "", "", f"{score:.2f}", "", ""])
    write("2022-par-index.csv", par)


if __name__ == "__main__":
    main()
