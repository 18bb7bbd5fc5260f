"""The synthetic country's 12 indicators and 40 rules, as plain data and as the YAML files of SPEC §3.3.

Per ratio indicator: the target (ramps, `for`, `resolve`), a critical floor, a reporting duty
(`max_age_days`, `missing_is_violation`) and a stretch target; then rollups, value rules (`<=` with a
ramp, `resolve`, a quarterly indicator), milestones, and scopes by tags, agencies and exclude.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from benchmarks.country import AgencyRow

__all__ = [
    "DB_CIVIL_DEPT",
    "DB_CIVIL_LOCAL",
    "DB_CIVIL_STAGES",
    "ONE_STOP_DEADLINES",
    "ONE_STOP_STAGES",
    "RATIOS",
    "RatioIndicator",
    "build_rules",
    "indicators_yaml",
    "pct",
    "ramp_at",
    "rules_yaml",
]

BASIS_CCHC = "Nghị quyết số 76/NQ-CP ngày 15/7/2021 của Chính phủ; Quyết định số 766/QĐ-TTg ngày 23/6/2022 của Thủ tướng Chính phủ"
BASIS_CDS = "Nghị quyết số 01/NQ-CP ngày 06/01/2023 của Chính phủ; Kế hoạch chuyển đổi số quốc gia năm 2023"
BASIS_SO_HOA = "Chỉ thị số 02/CT-TTg ngày 26/4/2022 của Thủ tướng Chính phủ; Thông tư số 01/2023/TT-VPCP"
BASIS_DE_AN_06 = "Quyết định số 06/QĐ-TTg ngày 06/01/2022 của Thủ tướng Chính phủ (Đề án 06)"


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


def pct(text: str) -> float:
    return float(text.rstrip("%")) / 100


def ramp_at(ramp: list[tuple[str, Any]], day: dt.date) -> Any:
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
                "resolve": {"op": ">=", "value": f"{pct(r.stretch) * 100 + 1:g}%"},
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
