"""The waiver form: its fields as typed, their checks with a Vietnamese message per field, the agency list.

No HTTP here: the task page (pages.py) shows the form and the Tạm miễn page (waivers.py) shows and
takes it; both read and check it through this module.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from compliance.model.agency import Agency, AgencyDirectory
from compliance.web import format as fmt

__all__ = ["AGENCY_CHOICES", "REASON_MAX", "AgencyChoices", "WaiverForm", "agency_choices", "fold"]

REASON_MAX = 2000
AGENCY_CHOICES = 300  # options in the agency list at most; a country's directory is searched instead


@dataclass
class WaiverForm:
    """What the office typed, kept as typed so a refused form comes back filled in; `errors` by field
    (`rule`, `agency`, `until`, `reason`, and `form` for what belongs to no one field)."""

    rule: str = ""
    agency: str = ""
    until: str = ""
    reason: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> WaiverForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        return cls(rule=text("rule"), agency=text("agency"), until=text("until"), reason=text("reason"))

    def check(self, *, rules: Container[str], directory: AgencyDirectory, today: dt.date) -> dt.date | None:
        """Fill `errors`; the last day of the waiver when every field is right, else None."""
        self.errors.clear()
        if not self.rule:
            self.errors["rule"] = "Vui lòng chọn quy tắc đánh giá."
        elif self.rule not in rules:
            self.errors["rule"] = f"Không có quy tắc đánh giá “{self.rule}” trong các quy tắc đang áp dụng."
        if not self.agency:
            self.errors["agency"] = "Vui lòng chọn cơ quan, đơn vị."
        elif self.agency not in directory:
            self.errors["agency"] = (
                f"Không có cơ quan, đơn vị “{self.agency}” trong danh sách cơ quan, đơn vị."
            )
        until: dt.date | None = None
        example = f"31/12/{today.year}"
        if not self.until:
            self.errors["until"] = (
                f"Vui lòng nhập ngày hết hạn tạm miễn theo dạng ngày/tháng/năm, ví dụ {example}."
            )
        else:
            until, problem = fmt.parse_date(self.until, example=example)
            if problem is not None:
                self.errors["until"] = problem
            elif until is not None and until < today:
                self.errors["until"] = (
                    f"Ngày {fmt.fmt_date(until)} đã qua: thời hạn tạm miễn phải từ hôm nay "
                    f"({fmt.fmt_date(today)}) trở đi."
                )
        if not self.reason:
            self.errors["reason"] = "Vui lòng nhập lý do tạm miễn (căn cứ, văn bản cho phép)."
        elif len(self.reason) > REASON_MAX:
            self.errors["reason"] = (
                f"Lý do dài {fmt.fmt_number(len(self.reason))} ký tự, quá giới hạn "
                f"{fmt.fmt_number(REASON_MAX)} ký tự: vui lòng rút gọn."
            )
        return None if self.errors else until


def fold(text: str) -> str:
    """Lower case without Vietnamese marks, so "hoa binh" finds "Hòa Bình"."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class AgencyChoices:
    """The options of the agency list: the matching active agencies in directory order, at most
    AGENCY_CHOICES of them (plus the one already chosen), and whether the list needs a search box."""

    options: list[Agency]
    matching: int
    searchable: bool

    @property
    def cut(self) -> bool:
        return self.matching > AGENCY_CHOICES


def agency_choices(
    directory: AgencyDirectory, *, today: dt.date, search: str = "", selected: str = ""
) -> AgencyChoices:
    active = [a for a in directory if a.active_on(today)]
    searchable = len(active) > AGENCY_CHOICES
    wanted = fold(search.strip()) if searchable else ""
    matching = (
        [a for a in active if wanted in fold(a.name) or wanted in a.id.casefold()] if wanted else active
    )
    options = matching[:AGENCY_CHOICES]
    chosen = directory.get(selected) if selected else None
    if chosen is not None and all(a.id != chosen.id for a in options):
        options = [chosen, *options]  # what the form was filled with stays chosen after a search
    return AgencyChoices(options, len(matching), searchable)
