"""Reports of evaluation processes: one self-contained HTML page (tables and SVG
charts drawn by matplotlib) in Chinese. Chart text stays text in the SVG, so the
browser draws the Chinese with its own fonts."""

from __future__ import annotations

import io
from collections.abc import Sequence
from html import escape
from typing import Any

_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em}"
    "th{background:#eee}"
)


def bar_chart_svg(values: dict[str, float], title: str) -> str:
    """A bar chart as inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["font.sans-serif"] = [
        "WenQuanYi Micro Hei",
        "Noto Sans CJK SC",
        "DejaVu Sans",
    ]
    fig, ax = plt.subplots(figsize=(6, 3))
    try:
        ax.bar(list(values), list(values.values()), color="#3b7dd8")
        ax.set_title(title)
        out = io.StringIO()
        fig.savefig(out, format="svg", bbox_inches="tight")
    finally:
        plt.close(fig)
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


def html_report(
    title: str,
    sections: Sequence[tuple[str, str]],
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *figures: str,
) -> str:
    """A complete HTML page: title, text sections, one table, figures (SVG/HTML)."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    text = "".join(f"<h2>{escape(h)}</h2><p>{escape(p)}</p>" for h, p in sections)
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{text}<table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{''.join(figures)}</body></html>"
    )
