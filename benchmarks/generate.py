"""A seeded synthetic country: real deployment files (config, agencies, rules, snapshots, waivers) to benchmark.

`python -m benchmarks.generate --agencies 10000 --out DIR` writes, in the formats of SPEC §3:

- `config.toml`: SQLite by default (or `--database-url`), the file email backend, `--backend durable|python`;
- `rules/agencies.csv`: 34 provinces, each a tree province → departments and districts → communes
  (`--agencies` in all, about 10,000 for a country), with tags, cc and a few commune merges
  (active_from / active_until);
- `rules/indicators.yaml`: 12 indicators (7 ratios, 3 values of which one quarterly, 2 milestones);
- `rules/*.yaml`: 40 rules using every feature (ramps, rollup, `for`, resolve hysteresis,
  min_denominator, max_age_days, missing_is_violation, milestones, scopes by level, tags, agencies,
  exclude);
- `snapshots/YYYY-MM.csv`: one file per month (about 12 rows per agency: every indicator, the quarterly
  one in the quarter's last month), a few rows missing, a few agencies that stop reporting, and a few
  revisions of the previous month with a later `as_of`;
- `waivers.csv`: waivers to add with `compliance waivers add`;
- `manifest.json`: what was generated, the evaluation dates the benchmark uses, and the rules as plain
  data for the floor measurement.

The data is plausible: most agencies pass; some fail throughout, some recover, some lapse, a few
oscillate around their target, so tasks open, stay open under hysteresis, and resolve.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import datetime as dt
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["GENERATOR_VERSION", "generate", "main", "write_config"]

GENERATOR_VERSION = 3
DEFAULT_SEED = 20250701
SNAPSHOT_HEADER = "period,agency,indicator,numerator,denominator,value,status,as_of"

# The 34 provinces and centrally-run cities after the 2025 merger (Resolution 202/2025/QH15).
PROVINCES: list[tuple[str, str, str]] = [
    ("ha-noi", "Hà Nội", "thành phố"),
    ("hue", "Huế", "thành phố"),
    ("lai-chau", "Lai Châu", "tỉnh"),
    ("dien-bien", "Điện Biên", "tỉnh"),
    ("son-la", "Sơn La", "tỉnh"),
    ("lang-son", "Lạng Sơn", "tỉnh"),
    ("quang-ninh", "Quảng Ninh", "tỉnh"),
    ("thanh-hoa", "Thanh Hóa", "tỉnh"),
    ("nghe-an", "Nghệ An", "tỉnh"),
    ("ha-tinh", "Hà Tĩnh", "tỉnh"),
    ("cao-bang", "Cao Bằng", "tỉnh"),
    ("tuyen-quang", "Tuyên Quang", "tỉnh"),
    ("lao-cai", "Lào Cai", "tỉnh"),
    ("thai-nguyen", "Thái Nguyên", "tỉnh"),
    ("phu-tho", "Phú Thọ", "tỉnh"),
    ("bac-ninh", "Bắc Ninh", "tỉnh"),
    ("hung-yen", "Hưng Yên", "tỉnh"),
    ("hai-phong", "Hải Phòng", "thành phố"),
    ("ninh-binh", "Ninh Bình", "tỉnh"),
    ("quang-tri", "Quảng Trị", "tỉnh"),
    ("da-nang", "Đà Nẵng", "thành phố"),
    ("quang-ngai", "Quảng Ngãi", "tỉnh"),
    ("gia-lai", "Gia Lai", "tỉnh"),
    ("khanh-hoa", "Khánh Hòa", "tỉnh"),
    ("lam-dong", "Lâm Đồng", "tỉnh"),
    ("dak-lak", "Đắk Lắk", "tỉnh"),
    ("hcm", "Hồ Chí Minh", "thành phố"),
    ("dong-nai", "Đồng Nai", "tỉnh"),
    ("tay-ninh", "Tây Ninh", "tỉnh"),
    ("can-tho", "Cần Thơ", "thành phố"),
    ("vinh-long", "Vĩnh Long", "tỉnh"),
    ("dong-thap", "Đồng Tháp", "tỉnh"),
    ("ca-mau", "Cà Mau", "tỉnh"),
    ("an-giang", "An Giang", "tỉnh"),
]

# Departments in the order a small province gets them (vpubnd before ttphvc, its parent).
# (slug, name template with {p} = "tỉnh X", head_title, email role, tags)
DEPARTMENTS: list[tuple[str, str, str, str, str]] = [
    ("vpubnd", "Văn phòng UBND {p}", "Chánh", "chanhvanphong", "cchc"),
    ("noivu", "Sở Nội vụ {p}", "Giám đốc", "giamdoc", "cchc"),
    ("tuphap", "Sở Tư pháp {p}", "Giám đốc", "giamdoc", ""),
    ("taichinh", "Sở Tài chính {p}", "Giám đốc", "giamdoc", ""),
    ("congan", "Công an {p}", "Giám đốc", "giamdoc", "de-an-06"),
    ("ttphvc", "Trung tâm Phục vụ hành chính công {p}", "Giám đốc", "giamdoc", "mot-cua;cchc"),
    ("thanhtra", "Thanh tra {p}", "Chánh", "chanhthanhtra", ""),
    ("xaydung", "Sở Xây dựng {p}", "Giám đốc", "giamdoc", ""),
    ("yte", "Sở Y tế {p}", "Giám đốc", "giamdoc", ""),
    ("gddt", "Sở Giáo dục và Đào tạo {p}", "Giám đốc", "giamdoc", ""),
    ("nnmt", "Sở Nông nghiệp và Môi trường {p}", "Giám đốc", "giamdoc", "cds"),
    ("congthuong", "Sở Công Thương {p}", "Giám đốc", "giamdoc", ""),
    ("khcn", "Sở Khoa học và Công nghệ {p}", "Giám đốc", "giamdoc", "cds"),
    ("vhttdl", "Sở Văn hóa, Thể thao và Du lịch {p}", "Giám đốc", "giamdoc", ""),
    ("dttg", "Sở Dân tộc và Tôn giáo {p}", "Giám đốc", "giamdoc", ""),
    ("ngoaivu", "Sở Ngoại vụ {p}", "Giám đốc", "giamdoc", ""),
    ("bqlkcn", "Ban Quản lý các khu công nghiệp {p}", "Trưởng ban", "truongban", ""),
    ("bhxh", "Bảo hiểm xã hội {p}", "Giám đốc", "giamdoc", ""),
    ("thue", "Thuế {p}", "Trưởng", "truong", ""),
    ("kbnn", "Kho bạc Nhà nước {p}", "Giám đốc", "giamdoc", ""),
]

_FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
]
_MIDDLE = ["Văn", "Thị", "Minh", "Hữu", "Thanh", "Ngọc", "Đức", "Quốc", "Thu", "Hoàng", "Xuân", "Kim"]
_GIVEN = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hà",
    "Hải",
    "Hạnh",
    "Hòa",
    "Hùng",
    "Hương",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Phong",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Thắng",
    "Trang",
    "Tuấn",
    "Vy",
    "Yến",
    "Khoa",
    "Lộc",
]
_PLACE = [
    "An",
    "Bình",
    "Phú",
    "Tân",
    "Long",
    "Thạnh",
    "Hòa",
    "Phước",
    "Mỹ",
    "Thới",
    "Hưng",
    "Lợi",
    "Đông",
    "Tây",
    "Trung",
    "Hiệp",
    "Thành",
    "Vĩnh",
    "Xuân",
    "Định",
    "Lộc",
    "Thuận",
    "Quang",
    "Đức",
    "Sơn",
    "Hải",
    "Khánh",
    "Nghĩa",
]

BASIS_CCHC = "Nghị quyết số 76/NQ-CP ngày 15/7/2021 của Chính phủ; Quyết định số 766/QĐ-TTg ngày 23/6/2022 của Thủ tướng Chính phủ"
BASIS_CDS = "Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ; Kế hoạch chuyển đổi số quốc gia năm 2023"
BASIS_SO_HOA = "Chỉ thị số 02/CT-TTg ngày 26/4/2022 của Thủ tướng Chính phủ; Thông tư số 01/2023/TT-VPCP"
BASIS_DE_AN_06 = "Quyết định số 06/QĐ-TTg ngày 06/01/2022 của Thủ tướng Chính phủ (Đề án 06)"


# ---------------------------------------------------------------------------------------------- dates


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class Month:
    index: int
    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def end(self) -> dt.date:
        return _month_end(self.year, self.month)

    @property
    def quarter_label(self) -> str | None:
        """The quarter this month closes, if it closes one."""
        return f"{self.year:04d}-Q{self.month // 3}" if self.month % 3 == 0 else None


def _months(start: str, count: int) -> list[Month]:
    year, month = (int(x) for x in start.split("-"))
    out = []
    for i in range(count):
        y, m = _add_months(year, month, i)
        out.append(Month(i, y, m))
    return out


# ------------------------------------------------------------------------------------------- agencies


@dataclass
class AgencyRow:
    id: str
    name: str
    level: str
    parent: str
    province: str
    head_name: str
    head_title: str
    head_email: str
    cc: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    active_from: dt.date | None = None
    active_until: dt.date | None = None
    size: float = 1.0  # base monthly dossier count

    def active_in(self, month: Month) -> bool:
        if self.active_from is not None and self.active_from > month.end:
            return False
        return not (self.active_until is not None and self.active_until < month.start)

    def csv_row(self) -> list[str]:
        return [
            self.id,
            self.name,
            self.level,
            self.parent,
            self.head_name,
            self.head_title,
            self.head_email,
            ";".join(self.cc),
            ";".join(self.tags),
            self.active_from.isoformat() if self.active_from else "",
            self.active_until.isoformat() if self.active_until else "",
        ]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"


def _place(rng: random.Random) -> str:
    a, b = rng.sample(_PLACE, 2)
    return f"{a} {b}"


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def build_directory(rng: random.Random, n_agencies: int, months: list[Month]) -> list[AgencyRow]:
    """The country: `n_agencies` units (plus a few merged communes' successors) in up to 34 provinces."""
    n_provinces = max(1, min(len(PROVINCES), n_agencies // 25))
    rows: list[AgencyRow] = []
    for (slug, pname, pkind), n in zip(PROVINCES[:n_provinces], _split(n_agencies, n_provinces), strict=True):
        p = f"{pkind} {pname}"
        n_dept = min(len(DEPARTMENTS), max(2, round(n * 0.07)))
        n_dist = max(1, round(n * 0.04))
        n_comm = max(1, n - 1 - n_dept - n_dist)
        rows.append(
            AgencyRow(
                id=slug,
                name=f"UBND {p}",
                level="province",
                parent="",
                province=slug,
                head_name=_person(rng),
                head_title="Chủ tịch",
                head_email=f"chutich.{slug}@example.gov.vn",
                cc=[f"vanphong.{slug}@example.gov.vn"],
                tags=["cchc", "cds"],
                size=rng.uniform(20, 200),
            )
        )
        for d_slug, template, title, role, tags in DEPARTMENTS[:n_dept]:
            aid = f"{slug}-{d_slug}"
            parent = f"{slug}-vpubnd" if d_slug == "ttphvc" else slug
            rows.append(
                AgencyRow(
                    id=aid,
                    name=template.format(p=p),
                    level="department",
                    parent=parent,
                    province=slug,
                    head_name=_person(rng),
                    head_title=title,
                    head_email=f"{role}.{aid}@example.gov.vn",
                    tags=[t for t in tags.split(";") if t],
                    size=rng.uniform(50, 2000),
                )
            )
        districts = []
        for k in range(1, n_dist + 1):
            aid = f"{slug}-h{k:02d}"
            kind = "thành phố" if k == 1 else ("thị xã" if k % 7 == 0 else "huyện")
            row = AgencyRow(
                id=aid,
                name=f"UBND {kind} {_place(rng)}",
                level="district",
                parent=slug,
                province=slug,
                head_name=_person(rng),
                head_title="Chủ tịch",
                head_email=f"chutich.{aid}@example.gov.vn",
                cc=[f"vanphong.{aid}@example.gov.vn"] if k % 3 == 0 else [],
                tags=["mot-cua", "de-an-06"],
                size=rng.uniform(500, 5000),
            )
            districts.append(row)
            rows.append(row)
        for j, count in enumerate(_split(n_comm, n_dist)):
            district = districts[j]
            for x in range(1, count + 1):
                aid = f"{district.id}-x{x:03d}"
                urban = rng.random() < 0.15
                tags = ["mot-cua", "de-an-06"]
                if urban:
                    tags.append("do-thi")
                elif rng.random() < 0.08:
                    tags.append("bien-gioi")
                size = (
                    rng.uniform(3, 18)
                    if rng.random() < 0.05
                    else min(600.0, math.exp(rng.gauss(math.log(80), 0.6)))
                )
                rows.append(
                    AgencyRow(
                        id=aid,
                        name=f"UBND {'phường' if urban else 'xã'} {_place(rng)}",
                        level="commune",
                        parent=district.id,
                        province=slug,
                        head_name=_person(rng),
                        head_title="Chủ tịch",
                        head_email=f"chutich.{aid}@example.gov.vn",
                        tags=tags,
                        size=max(3.0, size),
                    )
                )
    # Commune merges: about 1% of communes end mid-history; a new commune replaces each the next day.
    if len(months) >= 3:
        communes = [r for r in rows if r.level == "commune"]
        lo, hi = len(months) // 3, max(len(months) // 3, (2 * len(months)) // 3 - 1)
        for old in rng.sample(communes, max(1, len(communes) // 100)):
            last = months[rng.randint(lo, hi)]
            old.active_until = last.end
            new_id = f"{old.id}-m"
            rows.append(
                AgencyRow(
                    id=new_id,
                    name=f"UBND xã {_place(rng)}",
                    level="commune",
                    parent=old.parent,
                    province=old.province,
                    head_name=_person(rng),
                    head_title="Chủ tịch",
                    head_email=f"chutich.{new_id}@example.gov.vn",
                    tags=list(old.tags),
                    active_from=last.end + dt.timedelta(days=1),
                    size=old.size * 1.6,
                )
            )
    return rows


# ------------------------------------------------------------------------------------ indicators, rules


@dataclass(frozen=True)
class RatioIndicator:
    id: str
    slug: str
    name: str
    numerator: str
    denominator: str
    target: list[tuple[str, str]]  # ramp (from, "NN%"); one step = a constant target
    resolve: str | None  # hysteresis level of the main rule
    floor: str
    stretch: str
    scale: float  # share of the agency's dossiers this indicator counts
    for_: int
    basis: str


RATIOS: list[RatioIndicator] = [
    RatioIndicator(
        "full_online",
        "full-online",
        "Tỷ lệ hồ sơ trực tuyến toàn trình",
        "Số hồ sơ tiếp nhận và giải quyết trực tuyến toàn trình",
        "Số hồ sơ tiếp nhận thuộc thủ tục đủ điều kiện",
        [("2023-01-01", "30%"), ("2024-01-01", "40%")],
        None,
        "10%",
        "55%",
        0.8,
        1,
        BASIS_CDS,
    ),
    RatioIndicator(
        "online_payment",
        "online-payment",
        "Tỷ lệ hồ sơ thanh toán trực tuyến",
        "Số hồ sơ đã thanh toán trực tuyến",
        "Số hồ sơ thuộc thủ tục có phí, lệ phí",
        [("2023-01-01", "30%")],
        "32%",
        "10%",
        "45%",
        0.5,
        2,
        BASIS_CDS,
    ),
    RatioIndicator(
        "on_time",
        "on-time",
        "Tỷ lệ hồ sơ giải quyết đúng hạn",
        "Số hồ sơ giải quyết trước hạn và đúng hạn",
        "Số hồ sơ đã giải quyết",
        [("2023-01-01", "95%")],
        "96%",
        "85%",
        "96.5%",
        1.0,
        1,
        BASIS_CCHC,
    ),
    RatioIndicator(
        "digitised",
        "digitised",
        "Tỷ lệ số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
        "Số hồ sơ được số hóa thành phần hồ sơ và kết quả",
        "Số hồ sơ tiếp nhận trong kỳ",
        [("2023-01-01", "50%"), ("2024-01-01", "80%")],
        None,
        "20%",
        "85%",
        1.0,
        1,
        BASIS_SO_HOA,
    ),
    RatioIndicator(
        "e_results",
        "e-results",
        "Tỷ lệ cấp kết quả giải quyết thủ tục hành chính điện tử",
        "Số hồ sơ được cấp kết quả điện tử",
        "Số hồ sơ đã giải quyết",
        [("2023-01-01", "50%"), ("2024-01-01", "70%")],
        None,
        "20%",
        "75%",
        0.9,
        1,
        BASIS_SO_HOA,
    ),
    RatioIndicator(
        "reused_data",
        "reused-data",
        "Tỷ lệ khai thác, sử dụng lại thông tin, dữ liệu số hóa",
        "Số hồ sơ sử dụng lại dữ liệu đã số hóa",
        "Số hồ sơ tiếp nhận trong kỳ",
        [("2023-01-01", "30%"), ("2024-01-01", "50%")],
        None,
        "10%",
        "60%",
        0.9,
        2,
        BASIS_SO_HOA,
    ),
    RatioIndicator(
        "vneid_auth",
        "vneid-auth",
        "Tỷ lệ hồ sơ xác thực bằng tài khoản định danh điện tử VNeID",
        "Số hồ sơ nộp trực tuyến xác thực bằng VNeID",
        "Số hồ sơ nộp trực tuyến",
        [("2023-01-01", "50%")],
        "55%",
        "20%",
        "60%",
        0.6,
        2,
        BASIS_DE_AN_06,
    ),
]

# Value and milestone indicators: their parameters live next to the rules that use them below.
PROCESSING_TARGET = [("2023-01-01", 5), ("2024-01-01", 4)]
DB_CIVIL_STAGES = ["planned", "built", "connected", "shared"]
DB_CIVIL_LOCAL = [("built", "2023-06-30"), ("connected", "2023-12-31"), ("shared", "2024-06-30")]
DB_CIVIL_DEPT = [("connected", "2023-09-30"), ("shared", "2024-03-31")]
ONE_STOP_STAGES = ["planned", "piloted", "operating"]
ONE_STOP_DEADLINES = [("piloted", "2023-09-30"), ("operating", "2024-03-31")]

_ALL_UNITS = ["department", "district", "commune"]


def _pct(text: str) -> float:
    return float(text.rstrip("%")) / 100


def _ramp_at(ramp: list[tuple[str, Any]], day: dt.date) -> Any:
    chosen = None
    for start, value in ramp:
        if dt.date.fromisoformat(start) <= day:
            chosen = value
    return chosen if chosen is not None else ramp[0][1]


def _target(ramp: list[tuple[str, str]]) -> dict[str, Any]:
    if len(ramp) == 1:
        return {"op": ">=", "value": ramp[0][1]}
    return {"op": ">=", "ramp": [{"from": f, "value": v} for f, v in ramp]}


def indicators_yaml() -> str:
    out = [
        "version: 1",
        "",
        "# 12 chỉ số: 7 tỷ lệ, 3 giá trị (1 theo quý), 2 tiến độ (milestone).",
        "indicators:",
    ]
    for r in RATIOS:
        out += [
            f"  - id: {r.id}",
            f"    name: {_yaml_scalar(r.name)}",
            "    kind: ratio",
            "    frequency: month",
            f"    numerator: {_yaml_scalar(r.numerator)}",
            f"    denominator: {_yaml_scalar(r.denominator)}",
        ]
    out += [
        "  - id: processing_days",
        "    name: Số ngày giải quyết hồ sơ bình quân",
        "    kind: value",
        "    frequency: month",
        "    unit: ngày",
        "  - id: overdue_backlog",
        "    name: Số hồ sơ quá hạn chưa giải quyết",
        "    kind: value",
        "    frequency: month",
        "    unit: hồ sơ",
        "  - id: satisfaction",
        "    name: Mức độ hài lòng của người dân, doanh nghiệp",
        "    kind: value",
        "    frequency: quarter",
        "    unit: điểm",
        "  - id: db_civil",
        "    name: Kết nối, chia sẻ Cơ sở dữ liệu quốc gia về dân cư",
        "    kind: milestone",
        "    frequency: month",
        f"    stages: [{', '.join(DB_CIVIL_STAGES)}]",
        "  - id: one_stop",
        "    name: Bộ phận Một cửa số",
        "    kind: milestone",
        "    frequency: month",
        f"    stages: [{', '.join(ONE_STOP_STAGES)}]",
    ]
    return "\n".join(out) + "\n"


def build_rules(directory: list[AgencyRow]) -> dict[str, list[dict[str, Any]]]:
    """The 40 rules as plain data, grouped by the file they go to."""
    ids = {a.id for a in directory}
    by_slug: dict[str, list[str]] = {}
    for a in directory:
        if a.level == "department":
            by_slug.setdefault(a.id[len(a.province) + 1 :], []).append(a.id)
    inspectorates = by_slug.get("thanhtra", [])
    offices = by_slug.get("vpubnd", [])
    service_centres = by_slug.get("ttphvc") or sorted(by_slug.get("noivu", []))
    files: dict[str, list[dict[str, Any]]] = {
        "cchc.yaml": [],
        "cds.yaml": [],
        "de-an-06.yaml": [],
        "tong-hop.yaml": [],
    }
    for r in RATIOS:
        file = "de-an-06.yaml" if r.id == "vneid_auth" else ("cchc.yaml" if r.id == "on_time" else "cds.yaml")
        exclude = inspectorates + (offices if r.id in ("online_payment", "on_time") else [])
        main: dict[str, Any] = {
            "id": f"{r.slug}-chi-tieu",
            "title": f"{r.name} đạt chỉ tiêu",
            "indicator": r.id,
            "scope": {"levels": _ALL_UNITS, "exclude": [x for x in exclude if x in ids]},
            "target": _target(r.target),
            "min_denominator": 20,
            "for": r.for_,
        }
        if r.resolve:
            main["resolve"] = {"op": ">=", "value": r.resolve}
        main.update({"severity": "high", "due_days": 30, "basis": r.basis})
        files[file] += [
            main,
            {
                "id": f"{r.slug}-muc-san",
                "title": f"{r.name} không thấp hơn mức sàn {r.floor}",
                "indicator": r.id,
                "scope": {"levels": _ALL_UNITS},
                "target": {"op": ">=", "value": r.floor},
                "severity": "critical",
                "due_days": 14,
                "basis": r.basis,
            },
            {
                "id": f"{r.slug}-bao-cao",
                "title": f"Báo cáo số liệu {r.name[0].lower() + r.name[1:]} đúng kỳ",
                "indicator": r.id,
                "scope": {"levels": _ALL_UNITS},
                "target": {"op": ">=", "value": "0%"},
                "max_age_days": 45,
                "missing_is_violation": True,
                "severity": "low",
                "due_days": 10,
                "basis": r.basis,
            },
            {
                "id": f"{r.slug}-phan-dau",
                "title": f"{r.name} đạt mức phấn đấu {r.stretch}",
                "indicator": r.id,
                "scope": {"levels": ["district", "commune"]},
                "target": {"op": ">=", "value": r.stretch},
                "min_denominator": 50,
                "for": 3,
                "resolve": {"op": ">=", "value": f"{_pct(r.stretch) * 100 + 1:g}%"},
                "severity": "low",
                "due_days": 60,
                "basis": r.basis,
            },
        ]
    full_online = RATIOS[0]
    files["tong-hop.yaml"] += [
        {
            "id": "full-online-tong-hop",
            "title": "Tỷ lệ hồ sơ trực tuyến toàn trình tính chung đơn vị và các đơn vị trực thuộc",
            "indicator": "full_online",
            "scope": {"levels": ["province", "district"]},
            "target": _target(full_online.target),
            "rollup": True,
            "min_denominator": 100,
            "severity": "high",
            "due_days": 30,
            "basis": BASIS_CDS,
        },
        {
            "id": "online-payment-tong-hop-tinh",
            "title": "Tỷ lệ thanh toán trực tuyến toàn tỉnh đạt tối thiểu 30%",
            "indicator": "online_payment",
            "scope": {"levels": ["province"]},
            "target": {"op": ">=", "value": "30%"},
            "rollup": True,
            "for": 2,
            "resolve": {"op": ">=", "value": "31%"},
            "severity": "critical",
            "due_days": 30,
            "basis": BASIS_CDS,
        },
    ]
    files["cchc.yaml"] += [
        {
            "id": "processing-days",
            "title": "Thời gian giải quyết hồ sơ bình quân không quá chỉ tiêu",
            "indicator": "processing_days",
            "scope": {"levels": _ALL_UNITS},
            "target": {"op": "<=", "ramp": [{"from": f, "value": v} for f, v in PROCESSING_TARGET]},
            "for": 2,
            "severity": "medium",
            "basis": BASIS_CCHC,
        },
        {
            "id": "processing-days-muc-san",
            "title": "Thời gian giải quyết hồ sơ bình quân không quá 10 ngày",
            "indicator": "processing_days",
            "scope": {"levels": _ALL_UNITS},
            "target": {"op": "<=", "value": 10},
            "severity": "critical",
            "due_days": 14,
            "basis": BASIS_CCHC,
        },
        {
            "id": "overdue-backlog",
            "title": "Số hồ sơ quá hạn chưa giải quyết không quá 10",
            "indicator": "overdue_backlog",
            "scope": {"levels": _ALL_UNITS},
            "target": {"op": "<=", "value": 10},
            "resolve": {"op": "<=", "value": 5},
            "max_age_days": 62,
            "severity": "high",
            "due_days": 21,
            "basis": BASIS_CCHC,
        },
        {
            "id": "satisfaction",
            "title": "Mức độ hài lòng của người dân, doanh nghiệp đạt từ 80 điểm",
            "indicator": "satisfaction",
            "scope": {"levels": _ALL_UNITS},
            "target": {"op": ">=", "value": 80},
            "max_age_days": 120,
            "severity": "medium",
            "due_days": 60,
            "basis": BASIS_CCHC,
        },
        {
            "id": "satisfaction-mot-cua",
            "title": "Bộ phận Một cửa: mức độ hài lòng đạt từ 85 điểm",
            "indicator": "satisfaction",
            "scope": {"tags": ["mot-cua"]},
            "target": {"op": ">=", "value": 85},
            "for": 2,
            "severity": "low",
            "due_days": 60,
            "basis": BASIS_CCHC,
        },
        {
            "id": "tt-phvc-dung-han",
            "title": "Trung tâm Phục vụ hành chính công: tỷ lệ hồ sơ đúng hạn từ 98%",
            "indicator": "on_time",
            "scope": {"agencies": service_centres},
            "target": {"op": ">=", "value": "98%"},
            "resolve": {"op": ">=", "value": "98.5%"},
            "min_denominator": 20,
            "severity": "high",
            "due_days": 30,
            "basis": BASIS_CCHC,
        },
        {
            "id": "mot-cua-so",
            "kind": "milestone",
            "title": "Triển khai Bộ phận Một cửa số đúng tiến độ",
            "indicator": "one_stop",
            "scope": {"tags": ["mot-cua"]},
            "milestones": [{"stage": s, "by": d} for s, d in ONE_STOP_DEADLINES],
            "severity": "medium",
            "due_days": 30,
            "basis": BASIS_CCHC,
        },
    ]
    files["de-an-06.yaml"] += [
        {
            "id": "vneid-de-an-06",
            "title": "Đề án 06: tỷ lệ hồ sơ xác thực bằng VNeID theo lộ trình",
            "indicator": "vneid_auth",
            "scope": {"tags": ["de-an-06"]},
            "target": {
                "op": ">=",
                "ramp": [{"from": "2023-01-01", "value": "40%"}, {"from": "2024-01-01", "value": "55%"}],
            },
            "min_denominator": 20,
            "for": 2,
            "severity": "high",
            "due_days": 30,
            "basis": BASIS_DE_AN_06,
        },
        {
            "id": "csdl-dan-cu-co-so",
            "kind": "milestone",
            "title": "Kết nối, chia sẻ Cơ sở dữ liệu quốc gia về dân cư (cấp huyện, cấp xã)",
            "indicator": "db_civil",
            "scope": {"levels": ["district", "commune"]},
            "milestones": [{"stage": s, "by": d} for s, d in DB_CIVIL_LOCAL],
            "severity": "high",
            "due_days": 30,
            "basis": BASIS_DE_AN_06,
        },
        {
            "id": "csdl-dan-cu-so-nganh",
            "kind": "milestone",
            "title": "Kết nối, chia sẻ Cơ sở dữ liệu quốc gia về dân cư (sở, ngành)",
            "indicator": "db_civil",
            "scope": {"levels": ["department"], "exclude": [x for x in inspectorates if x in ids]},
            "milestones": [{"stage": s, "by": d} for s, d in DB_CIVIL_DEPT],
            "severity": "high",
            "due_days": 30,
            "basis": BASIS_DE_AN_06,
        },
    ]
    return files


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if (
        text.endswith("%")
        or text in (">=", ">", "<=", "<")
        or ": " in text
        or " #" in text
        or text[:1] in "[{&*!|>'\"%@`"
    ):
        return json.dumps(text, ensure_ascii=False)
    return text


def _yaml_flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_flow(v) for v in value) + "]"
    return _yaml_scalar(value)


def rules_yaml(rules: list[dict[str, Any]], comment: str) -> str:
    out = ["version: 1", "", f"# {comment}", "rules:"]
    for rule in rules:
        first = True
        for key, value in rule.items():
            if key == "scope" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if v}
            if isinstance(value, dict | list):
                if key == "scope" and len(_yaml_flow(value)) > 100:
                    line = f"{key}:\n" + "\n".join(f"      {k}: {_yaml_flow(v)}" for k, v in value.items())
                else:
                    line = f"{key}: {_yaml_flow(value)}"
            else:
                line = f"{key}: {_yaml_scalar(value)}"
            out.append(("  - " if first else "    ") + line)
            first = False
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------ snapshots

# Kinds of trajectory of one (agency, indicator): the shares decide how many tasks open and resolve.
_KINDS = [
    ("good", 0.78),
    ("chronic", 0.08),
    ("recovering", 0.07),
    ("lapsing", 0.05),
    ("volatile", 0.015),
    ("collapsed", 0.005),
]


def _draw_kind(rng: random.Random) -> str:
    x = rng.random()
    for kind, share in _KINDS:
        if x < share:
            return kind
        x -= share
    return "good"


@dataclass
class Profile:
    kind: str
    level: float  # how far above (good) or below (bad) the target, as a share
    switch: int  # the month index at which recovering/lapsing profiles turn
    stop: int  # from this month index on, no rows (the agency stopped reporting); large = never


def _is_bad(p: Profile, t: int) -> bool:
    if p.kind in ("chronic", "collapsed"):
        return True
    if p.kind == "recovering":
        return t < p.switch
    if p.kind == "lapsing":
        return t >= p.switch
    if p.kind == "volatile":
        return t % 2 == 1
    return False


def _profile(rng: random.Random, n_months: int) -> Profile:
    kind = _draw_kind(rng)
    stop = n_months - 3 if rng.random() < 0.005 else 10**6
    return Profile(kind, rng.random(), rng.randint(1, max(1, n_months - 1)), stop)


def _ratio(p: Profile, t: int, target: float, floor: float, rng: random.Random) -> float:
    if p.kind == "collapsed":
        r = floor * (0.3 + 0.4 * p.level)
    elif p.kind == "volatile":
        r = target + (0.02 if t % 2 == 0 else -0.02)
    elif _is_bad(p, t):
        r = target * (0.70 + 0.27 * p.level) + rng.gauss(0, 0.01)
    else:
        r = target + (0.12 + 0.73 * p.level) * (1 - target) + rng.gauss(0, 0.01) * (1 - target)
    return min(1.0, max(0.0, r))


def _milestone_index(
    deadlines: list[tuple[str, str]], months: list[Month], late: bool, rng: random.Random
) -> list[int]:
    """The month index at which each stage after the first is reached (on time, or a few months late)."""
    out = []
    previous = 0
    for _stage, by in deadlines:
        due = dt.date.fromisoformat(by)
        due_index = next(
            (m.index for m in months if m.end >= due), len(months) + (due.year - months[-1].year) * 12
        )
        reach = due_index + rng.randint(1, 6) if late else due_index - rng.randint(0, 4)
        reach = max(reach, previous)
        out.append(reach)
        previous = reach
    return out


def _stage_at(stages: list[str], reached: list[int], t: int) -> str:
    stage = stages[0]
    for name, at in zip(stages[1:], reached, strict=False):
        if t >= at:
            stage = name
    return stage


def write_snapshots(
    out: Path, directory: list[AgencyRow], months: list[Month], rng: random.Random
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], Profile]]:
    """One CSV per month; returns per-file facts and the ratio profiles (to choose waivers)."""
    out.mkdir(parents=True, exist_ok=True)
    n = len(months)
    scale = {r.id: r.scale for r in RATIOS}
    profiles: dict[tuple[str, str], Profile] = {}
    other: dict[tuple[str, str], Any] = {}
    for a in directory:
        for r in RATIOS:
            profiles[(a.id, r.id)] = _profile(rng, n)
        for ind in ("processing_days", "overdue_backlog", "satisfaction"):
            other[(a.id, ind)] = _profile(rng, n)
        other[(a.id, "db_civil")] = _milestone_index(
            DB_CIVIL_DEPT if a.level == "department" else DB_CIVIL_LOCAL, months, rng.random() < 0.12, rng
        )
        other[(a.id, "one_stop")] = _milestone_index(ONE_STOP_DEADLINES, months, rng.random() < 0.12, rng)
    facts: list[dict[str, Any]] = []
    previous_rows: list[tuple[str, str, str, int, int]] = []  # last month's ratio rows, for revisions
    for month in months:
        t = month.index
        lines = [SNAPSHOT_HEADER]
        this_rows: list[tuple[str, str, str, int, int]] = []
        quarter = month.quarter_label
        for a in directory:
            if not a.active_in(month):
                continue
            for r in RATIOS:
                p = profiles[(a.id, r.id)]
                if t >= p.stop or rng.random() < 0.01:
                    continue
                den = max(0, round(a.size * scale[r.id] * rng.uniform(0.85, 1.15)))
                target = _pct(_ramp_at(r.target, month.end))
                num = min(den, round(_ratio(p, t, target, _pct(r.floor), rng) * den))
                lines.append(f"{month.label},{a.id},{r.id},{num},{den},,,")
                this_rows.append((month.label, a.id, r.id, num, den))
            p = other[(a.id, "processing_days")]
            if t < p.stop and rng.random() >= 0.01:
                if p.kind == "collapsed":
                    days = 10.5 + 4 * p.level
                elif _is_bad(p, t):
                    days = 4.3 + 3.5 * p.level
                else:
                    days = 1.5 + 2.2 * p.level
                lines.append(f"{month.label},{a.id},processing_days,,,{days + rng.gauss(0, 0.15):.2f},,")
            p = other[(a.id, "overdue_backlog")]
            if t < p.stop and rng.random() >= 0.01:
                backlog = 11 + int(30 * p.level) if _is_bad(p, t) else rng.randint(0, 6)
                lines.append(f"{month.label},{a.id},overdue_backlog,,,{backlog},,")
            p = other[(a.id, "satisfaction")]
            if quarter is not None and t < p.stop and rng.random() >= 0.01:
                score = 70 + 9.9 * p.level if _is_bad(p, t) else 82 + 15 * p.level
                lines.append(f"{quarter},{a.id},satisfaction,,,{min(100.0, score + rng.gauss(0, 0.5)):.1f},,")
            stages_civil = other[(a.id, "db_civil")]
            civil_names = DB_CIVIL_STAGES[1:] if a.level != "department" else DB_CIVIL_STAGES[2:]
            stage = DB_CIVIL_STAGES[0]
            for name, at in zip(civil_names, stages_civil, strict=False):
                if t >= at:
                    stage = name
            lines.append(f"{month.label},{a.id},db_civil,,,,{stage},")
            lines.append(
                f"{month.label},{a.id},one_stop,,,,{_stage_at(ONE_STOP_STAGES, other[(a.id, 'one_stop')], t)},"
            )
        # Revisions: about 0.5% of last month's ratio rows are re-reported on the 10th, mostly upwards.
        revised = 0
        as_of = dt.date(month.year, month.month, 10).isoformat()
        for label, agency, ind, num, den in previous_rows:
            if rng.random() < 0.005 and den > 0:
                new = max(0, min(den, num + round(den * rng.uniform(-0.01, 0.06))))
                lines.append(f"{label},{agency},{ind},{new},{den},,,{as_of}")
                revised += 1
        previous_rows = this_rows
        path = out / f"{month.label}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        facts.append({"month": month.label, "file": path.name, "rows": len(lines) - 1, "revisions": revised})
    return facts, profiles


# --------------------------------------------------------------------------------------------- config


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_config(
    path: Path,
    *,
    name: str,
    database_url: str,
    backend: str,
    rules_dir: str = "rules",
    agencies: str = "rules/agencies.csv",
    outbox_dir: str = "var/outbox",
    inbox_dir: str = "data/inbox",
) -> None:
    """A config.toml (SPEC §3.1) for the generated country; paths relative to `path`'s folder or absolute."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""# Benchmark deployment, generated by benchmarks/generate.py. Paths are relative to this file.

[deployment]
name = {_toml_str(name)}
timezone = "Asia/Ho_Chi_Minh"
locale = "vi_VN"
base_url = ""

[paths]
rules = {_toml_str(rules_dir)}
agencies = {_toml_str(agencies)}
inbox = {_toml_str(inbox_dir)}
templates = "notifications"

[database]
url = {_toml_str(database_url)}

[engine]
backend = {_toml_str(backend)}

[tasks]
default_due_days = 14

[notify]
remind_before_due = [3, 1]
overdue_every_days = 7
escalate_after_days = 7
working_days = "mon-fri"
holiday_calendar = "VN"
holidays = []
working_saturdays = []
escalation_default_to = "vanphong.chinhphu@example.gov.vn"

[email]
backend = "file"
sender = "cchc@example.gov.vn"
cc = []
outbox_dir = {_toml_str(outbox_dir)}
""",
        encoding="utf-8",
    )


# ------------------------------------------------------------------------------------------- generate


def _choose_waivers(
    directory: list[AgencyRow],
    profiles: dict[tuple[str, str], Profile],
    first_on: dt.date,
    rng: random.Random,
) -> list[dict[str, str]]:
    """Waivers for chronically failing communes: most still running at the first evaluation, some ended."""
    wanted = max(1, len(directory) // 1000)
    index = {a.id: a for a in directory}
    candidates = sorted(
        (agency_id, ind)
        for (agency_id, ind), p in profiles.items()
        if p.kind == "chronic"
        and index[agency_id].level == "commune"
        and index[agency_id].active_until is None
    )
    chosen = rng.sample(candidates, min(wanted, len(candidates)))
    slug = {r.id: r.slug for r in RATIOS}
    out = []
    for i, (agency, ind) in enumerate(sorted(chosen)):
        until = first_on + dt.timedelta(days=90) if i % 3 != 2 else first_on - dt.timedelta(days=20)
        out.append(
            {
                "rule": f"{slug[ind]}-chi-tieu",
                "agency": agency,
                "until": until.isoformat(),
                "reason": "Đơn vị đang sắp xếp, kiện toàn bộ phận một cửa; tạm miễn áp dụng đến khi ổn định",
                "by": "vanphong.chinhphu@example.gov.vn",
            }
        )
    return out


def generate(
    out: Path,
    *,
    agencies: int = 10_000,
    months: int = 24,
    seed: int = DEFAULT_SEED,
    start: str = "2023-01",
    database_url: str = "sqlite:///var/compliance.db",
    backend: str = "durable",
) -> dict[str, Any]:
    """Write the synthetic country into `out`; returns (and writes) its manifest."""
    if months < 2:
        raise ValueError("at least 2 months: one of history and the one the benchmark ingests")
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    month_list = _months(start, months)
    directory = build_directory(rng, agencies, month_list)
    rules_dir = out / "rules"
    rules_dir.mkdir(exist_ok=True)
    for old in rules_dir.glob("*.yaml"):
        old.unlink()
    with (rules_dir / "agencies.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(
            [
                "id",
                "name",
                "level",
                "parent",
                "head_name",
                "head_title",
                "head_email",
                "cc",
                "tags",
                "active_from",
                "active_until",
            ]
        )
        for a in directory:
            writer.writerow(a.csv_row())
    (rules_dir / "indicators.yaml").write_text(indicators_yaml(), encoding="utf-8")
    comments = {
        "cchc.yaml": "Cải cách hành chính: đúng hạn, thời gian giải quyết, hồ sơ quá hạn, mức độ hài lòng, Một cửa số.",
        "cds.yaml": "Chuyển đổi số: trực tuyến toàn trình, thanh toán trực tuyến, số hóa, kết quả điện tử, tái sử dụng dữ liệu.",
        "de-an-06.yaml": "Đề án 06: xác thực VNeID, kết nối Cơ sở dữ liệu quốc gia về dân cư.",
        "tong-hop.yaml": "Chỉ tiêu tính chung đơn vị và các đơn vị trực thuộc (rollup).",
    }
    rules = build_rules(directory)
    for file, file_rules in rules.items():
        (rules_dir / file).write_text(rules_yaml(file_rules, comments[file]), encoding="utf-8")
    facts, profiles = write_snapshots(out / "snapshots", directory, month_list, rng)
    # The benchmark ingests every month but the last two as history, measures the ingest of the
    # second-to-last, evaluates 5 days after its end, again the next day, then ingests the last month
    # and evaluates 5 days after its end.
    first_on = month_list[-2].end + dt.timedelta(days=5)
    waivers = _choose_waivers(directory, profiles, first_on, rng)
    with (out / "waivers.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, ["rule", "agency", "until", "reason", "by"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(waivers)
    n_provinces = sum(1 for a in directory if a.level == "province")
    write_config(
        out / "config.toml",
        name=f"Benchmark: {n_provinces} tỉnh, thành phố; {len(directory):,} cơ quan, đơn vị".replace(
            ",", "."
        ),
        database_url=database_url,
        backend=backend,
    )
    all_rules = [r for file_rules in rules.values() for r in file_rules]
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "agencies_requested": agencies,
        "agencies": len(directory),
        "provinces": n_provinces,
        "levels": {
            lvl: sum(1 for a in directory if a.level == lvl)
            for lvl in ("province", "department", "district", "commune")
        },
        "indicators": 12,
        "rules": len(all_rules),
        "months": facts,
        "history": [f["file"] for f in facts[:-2]],
        "measured_month": facts[-2]["file"],
        "new_month": facts[-1]["file"],
        "first_on": first_on.isoformat(),
        "next_on": (first_on + dt.timedelta(days=1)).isoformat(),
        "new_month_on": (month_list[-1].end + dt.timedelta(days=5)).isoformat(),
        "waivers": waivers,
        "rule_specs": all_rules,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--agencies", type=int, default=10_000, help="how many agencies (1000, 10000, 30000…)"
    )
    parser.add_argument("--months", type=int, default=24, help="months of snapshots (default 24)")
    parser.add_argument("--start", default="2023-01", help="first month, YYYY-MM (default 2023-01)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the deployment into")
    parser.add_argument(
        "--database-url",
        default="sqlite:///var/compliance.db",
        help="SQLite (default, relative to config.toml) or postgresql+psycopg://user@host/db",
    )
    parser.add_argument("--backend", choices=["durable", "python"], default="durable", help="the rule engine")
    args = parser.parse_args(argv)
    manifest = generate(
        args.out,
        agencies=args.agencies,
        months=args.months,
        seed=args.seed,
        start=args.start,
        database_url=args.database_url,
        backend=args.backend,
    )
    rows = sum(f["rows"] for f in manifest["months"])
    print(
        f"{args.out}: {manifest['agencies']} agencies in {manifest['provinces']} provinces, "
        f"{manifest['rules']} rules, {len(manifest['months'])} months, {rows} snapshot rows, "
        f"{len(manifest['waivers'])} waivers"
    )


if __name__ == "__main__":
    main()
