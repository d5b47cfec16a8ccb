"""Reports of evaluation processes: one self-contained HTML page (tables and SVG
charts drawn by matplotlib) in Chinese. Chart text stays text in the SVG, so the
browser draws the Chinese with its own fonts (matplotlib only measures it)."""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from html import escape
from typing import Any

from processes.base import Output, ProcessError

_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em}"
    "th{background:#eee}"
)
_FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "DejaVu Sans"]


@contextmanager
def figure(width: float, height: float) -> Iterator[tuple[Any, Any, list[str]]]:
    """A matplotlib figure and axes; the SVG lands in the list on leaving."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: list[str] = []
    with matplotlib.rc_context({"svg.fonttype": "none", "font.sans-serif": _FONTS}):
        fig, ax = plt.subplots(figsize=(width, height))
        try:
            yield fig, ax, out
            buffer = io.StringIO()
            with warnings.catch_warnings():
                # without a CJK font installed only the measuring falls back
                warnings.filterwarnings("ignore", message="Glyph .* missing from font")
                fig.savefig(buffer, format="svg", bbox_inches="tight")
            svg = buffer.getvalue()
            out.append(svg[svg.index("<svg") :])
        finally:
            plt.close(fig)


def report_output(title_zh: str, contents_zh: str) -> Output:
    """The description of a process's HTML report output."""
    return Output(
        title={"zh-CN": title_zh, "en": "Report"},
        description={"zh-CN": f"HTML 报告（{contents_zh}）", "en": "HTML report"},
        schema={"type": "string", "contentMediaType": "text/html"},
        media_types=("text/html",),
    )


PDF_OUTPUT = Output(
    title={"zh-CN": "PDF 报告", "en": "PDF report"},
    description={"zh-CN": "同一报告的 PDF（base64，pdf=true 时）",
                 "en": "The same report as PDF (base64, when pdf=true)"},
    schema={"type": "string", "contentEncoding": "base64",
            "contentMediaType": "application/pdf"},
    media_types=("application/pdf",),
)  # fmt: skip


def pdf_of(html: str) -> str:
    """The report as PDF (WeasyPrint: Pango and a CJK font on the machine), base64."""
    try:
        import weasyprint
    except (ImportError, OSError):  # the library, or Pango, is missing
        raise ProcessError("process.pdf_unavailable") from None
    return base64.b64encode(weasyprint.HTML(string=html).write_pdf()).decode()


def with_pdf(outputs: dict[str, Any], wanted: bool) -> dict[str, Any]:
    """The outputs plus ``report_pdf`` of their ``report`` when asked for."""
    return {**outputs, "report_pdf": pdf_of(outputs["report"])} if wanted else outputs


def bar_chart_svg(values: dict[str, float], title: str) -> str:
    """A bar chart as inline SVG."""
    with figure(6, 3) as (_fig, ax, out):
        ax.bar(list(values), list(values.values()), color="#3b7dd8")
        ax.set_title(title)
    return out[0]


def html_report(
    title: str,
    sections: Sequence[tuple[str, str]],
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *figures: str,
) -> str:
    """A complete HTML page: title, text sections, one table, figures (SVG/HTML)."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    cells = ("".join(f"<td>{escape(str(v))}</td>" for v in row) for row in rows)
    body = "".join(f"<tr>{c}</tr>" for c in cells)
    text = "".join(f"<h2>{escape(h)}</h2><p>{escape(p)}</p>" for h, p in sections)
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{text}<table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{''.join(figures)}</body></html>"
    )
