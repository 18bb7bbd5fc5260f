"""The synthetic country's calendar and agency directory: 34 provinces, each a tree down to communes.

Each province has its People's Committee, up to 20 departments (the service centre under the office),
districts, and communes shared out among the districts; about 1 % of communes merge half-way through
the history (an `active_until`, and a successor with `active_from`). Names and heads are invented.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import random
from dataclasses import dataclass, field

__all__ = ["DEPARTMENTS", "PROVINCES", "AgencyRow", "Month", "build_directory", "months_from"]

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

_FAMILY = "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý".split()
_MIDDLE = "Văn Thị Minh Hữu Thanh Ngọc Đức Quốc Thu Hoàng Xuân Kim".split()
_GIVEN = (
    "An Bình Cường Dũng Hà Hải Hạnh Hòa Hùng Hương Lan Linh Long Mai Nam Phong Phúc Quân Sơn Tâm Thảo Thắng "
    "Trang Tuấn Vy Yến Khoa Lộc"
).split()
_PLACE = (
    "An Bình Phú Tân Long Thạnh Hòa Phước Mỹ Thới Hưng Lợi Đông Tây Trung Hiệp Thành Vĩnh Xuân Định Lộc "
    "Thuận Quang Đức Sơn Hải Khánh Nghĩa"
).split()


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


def months_from(start: str, count: int) -> list[Month]:
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
