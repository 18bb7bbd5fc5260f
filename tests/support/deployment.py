"""A small valid deployment written into a test's directory, so tests start from inputs that `check` accepts.

`write_deployment(tmp_path)` writes, directly into `tmp_path`:

    config.toml            [deployment] name, [database] url = "sqlite:///var/compliance.db"
                           (+ `config_extra`, appended verbatim); paths are SPEC's defaults
                           (rules/, rules/agencies.csv, data/inbox, notifications), so the
                           database lands in tmp_path/var/compliance.db
    rules/agencies.csv     AGENCIES_CSV: 7 agencies, one of each level
                             tinh (province)
                             ├── so-a (department, tags cds;mot-cua, cc vanthu.soa@…)
                             ├── so-b (department)
                             └── huyen-x (district)
                                 ├── xa-x1 (commune)
                                 ├── xa-x2 (commune)
                                 └── xa-x3 (commune, active_until 2023-03-31: merged in 2023)
    rules/indicators.yaml  INDICATORS_YAML: online_payment (ratio, month), full_online (ratio, month),
                           par_index (value, year), db_land (milestone, month: planned, built,
                           connected, shared)
    rules/rules.yaml       RULES_YAML: online-payment-30 (ratio >= 30%, departments and districts),
                           full-online (ratio ramp 50% from 2023-01-01, 60% from 2023-07-01, districts,
                           rollup), par-index-80 (value >= 80, departments), db-land (milestone for
                           so-a: built by 2023-03-31, connected by 2023-06-30, shared by 2023-09-30)
    data/inbox/            empty

Each file can be replaced (pass the text) or left out (pass None); `extra_files` adds more files
({relative path: text or bytes}), e.g. rule tests under rules/tests/ or snapshot CSVs.
The `cli` fixture runs in tmp_path, so `cli("check")` then works without `--config`.
Returns the path of config.toml (its parent is the deployment directory).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "AGENCIES_CSV",
    "AGENCY_HEADER",
    "INDICATORS_YAML",
    "RULES_YAML",
    "write_deployment",
]

AGENCY_HEADER = "id,name,level,parent,head_name,head_title,head_email,cc,tags,active_from,active_until"

AGENCIES_CSV = f"""{AGENCY_HEADER}
tinh,UBND tỉnh Thử Nghiệm,province,,Nguyễn Văn Tỉnh,Chủ tịch UBND tỉnh,chutich@tinh.example.gov.vn,,,,
so-a,Sở A,department,tinh,Trần Thị An,Giám đốc Sở A,giamdoc.soa@example.gov.vn,vanthu.soa@example.gov.vn,cds;mot-cua,,
so-b,Sở B,department,tinh,Lê Văn Bình,Giám đốc Sở B,giamdoc.sob@example.gov.vn,,,,
huyen-x,UBND huyện X,district,tinh,Phạm Văn Xuân,Chủ tịch UBND huyện X,chutich.huyenx@example.gov.vn,,,,
xa-x1,UBND xã X1,commune,huyen-x,Võ Văn Một,Chủ tịch UBND xã X1,chutich.xax1@example.gov.vn,,,,
xa-x2,UBND xã X2,commune,huyen-x,Đỗ Thị Hai,Chủ tịch UBND xã X2,chutich.xax2@example.gov.vn,,,,
xa-x3,UBND xã X3,commune,huyen-x,Bùi Văn Ba,Chủ tịch UBND xã X3,chutich.xax3@example.gov.vn,,,,2023-03-31
"""

INDICATORS_YAML = """version: 1
indicators:
  - id: online_payment
    name: Tỷ lệ hồ sơ thanh toán trực tuyến
    kind: ratio
    frequency: month
    numerator: Số hồ sơ đã thanh toán trực tuyến
    denominator: Số hồ sơ thuộc thủ tục có phí, lệ phí
  - id: full_online
    name: Tỷ lệ hồ sơ trực tuyến toàn trình
    kind: ratio
    frequency: month
  - id: par_index
    name: Chỉ số cải cách hành chính
    kind: value
    frequency: year
  - id: db_land
    name: Cơ sở dữ liệu đất đai
    kind: milestone
    frequency: month
    stages: [planned, built, connected, shared]
"""

RULES_YAML = """version: 1
rules:
  - id: online-payment-30
    title: Tỷ lệ hồ sơ thanh toán trực tuyến đạt tối thiểu 30%
    indicator: online_payment
    scope: {levels: [department, district]}
    target: {op: ">=", value: "30%"}
    severity: high
    basis: Nghị quyết 01/NQ-CP ngày 06/01/2023
  - id: full-online
    title: Tỷ lệ hồ sơ trực tuyến toàn trình đạt chỉ tiêu
    indicator: full_online
    scope: {levels: [district]}
    target: {op: ">=", ramp: [{from: 2023-01-01, value: "50%"}, {from: 2023-07-01, value: "60%"}]}
    rollup: true
  - id: par-index-80
    title: Chỉ số cải cách hành chính đạt từ 80 điểm
    indicator: par_index
    scope: {levels: [department]}
    target: {op: ">=", value: 80}
  - id: db-land
    kind: milestone
    title: Xây dựng, kết nối, chia sẻ CSDL đất đai đúng tiến độ
    indicator: db_land
    scope: {agencies: [so-a]}
    milestones: [{stage: built, by: 2023-03-31}, {stage: connected, by: 2023-06-30}, {stage: shared, by: 2023-09-30}]
"""


def _config_text(database_url: str, extra: str) -> str:
    text = f'[deployment]\nname = "Tỉnh Thử Nghiệm — kiểm thử"\n\n[database]\nurl = "{database_url}"\n'
    return text + ("\n" + extra.strip() + "\n" if extra.strip() else "")


def write_deployment(
    tmp_path: Path,
    *,
    rules_yaml: str | None = RULES_YAML,
    indicators_yaml: str | None = INDICATORS_YAML,
    agencies_csv: str | None = AGENCIES_CSV,
    config_extra: str = "",
    database_url: str = "sqlite:///var/compliance.db",
    extra_files: Mapping[str, str | bytes] | None = None,
) -> Path:
    """Write the deployment described in the module docstring into `tmp_path`; return config.toml's path.

    `config_extra` is TOML appended after `[database]` (add whole sections such as `[notify]` or
    `[email]`; `[deployment]` and `[database]` already exist: use `database_url=` for the latter).
    """
    (tmp_path / "rules").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data" / "inbox").mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.toml"
    config.write_text(_config_text(database_url, config_extra), encoding="utf-8")
    files: dict[str, str | bytes | None] = {
        "rules/agencies.csv": agencies_csv,
        "rules/indicators.yaml": indicators_yaml,
        "rules/rules.yaml": rules_yaml,
    }
    files.update(extra_files or {})
    for relative, content in files.items():
        target = tmp_path / relative
        if content is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return config
