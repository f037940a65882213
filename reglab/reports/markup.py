"""The building blocks of a self-contained HTML page.

Every page is one file: the style sheet is inline, images are ``data:`` URIs
(base64 PNG), there is no script and no external reference, so a report opens
anywhere without a network. Every string that reaches the page goes through
:func:`html.escape` here, so a setting or an error message can never inject
markup.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["text", "number", "table", "key_values", "image", "section", "page", "paragraph", "status_badge"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1d2733; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem;
       border-bottom: 1px solid #d6dde5; padding-bottom: 0.2rem; }
.subtitle { color: #5b6b7c; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border: 1px solid #d6dde5; padding: 0.2rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #eef2f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f8fafc; }
.scroll { max-height: 28rem; overflow: auto; display: inline-block; max-width: 100%; }
figure { display: inline-block; margin: 0.5rem 1rem 0.5rem 0; } img { max-width: 100%; border: 1px solid #e3e8ee; }
figcaption { font-size: 0.8rem; color: #5b6b7c; }
.badge { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 0.6rem; font-size: 0.8rem; color: #fff; }
.complete { background: #2e7d32; } .other { background: #c62828; }
.note { background: #fff8e1; border-left: 4px solid #f9a825; padding: 0.3rem 0.7rem; margin: 0.4rem 0; }
code { background: #eef2f6; padding: 0 0.2rem; border-radius: 3px; }
"""


def text(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value), quote=True)


def number(value: Any) -> str:
    """A float to 6 significant digits, other values as text (escaped); None and nan as '-'."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return text(f"{value:.6g}")
    return text(value)


def _cell(value: Any) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{number(value)}</td>' if numeric else f"<td>{number(value)}</td>"


def table(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], *, scroll: bool = False) -> str:
    """A table with one header row and one row per mapping (missing cells empty)."""
    head = "".join(f"<th>{text(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c, "")) for c in columns) + "</tr>" for row in rows)
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{out}</div>' if scroll else out


def key_values(data: Mapping[str, Any]) -> str:
    """A two-column table of ``data``'s items."""
    rows = "".join(f"<tr><th>{text(k)}</th>{_cell(v)}</tr>" for k, v in data.items())
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def image(path: Path, caption: str | None = None) -> str:
    """The PNG file inline, as a base64 data URI."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption_html = f"<figcaption>{text(caption or path.name)}</figcaption>"
    return f'<figure><img src="data:image/png;base64,{data}" alt="{text(path.name)}">{caption_html}</figure>'


def paragraph(content: str, *, css: str | None = None) -> str:
    """A paragraph of escaped text."""
    return f'<p class="{text(css)}">{text(content)}</p>' if css else f"<p>{text(content)}</p>"


def status_badge(status: Any) -> str:
    css = "complete" if status == "complete" else "other"
    return f'<span class="badge {css}">{text(status)}</span>'


def section(title: str, *parts: str) -> str:
    """An ``<h2>`` section of already-built HTML parts."""
    return f"<section><h2>{text(title)}</h2>{''.join(parts)}</section>"


def page(title: str, subtitle_html: str, sections: Sequence[str]) -> str:
    """The whole document."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{text(title)}</title><style>{_STYLE}</style></head>"
        f'<body><h1>{text(title)}</h1><p class="subtitle">{subtitle_html}</p>' + "".join(sections) + "</body></html>\n"
    )
