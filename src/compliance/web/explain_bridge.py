"""The task page's explanation: the text of `audit explain TASK_ID`, split into paragraphs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compliance.model.task import Task

if TYPE_CHECKING:
    from compliance.web.site import Site

__all__ = ["explain_task"]


def explain_task(conn: Any, site: Site, task: Task) -> list[str]:
    # Filled in with compliance.explain once it lands; until then the page says where the log is.
    return [
        f"Nhiệm vụ số {task.id} được giao ngày {task.opened_on:%d/%m/%Y} vì kết quả đánh giá "
        f"kỳ {task.period or '—'} không đạt chỉ tiêu."
    ]
