"""A small document model rendered both as Markdown and as HTML, so index.md and index.html say the same."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_CODE = re.compile(r"`([^`]+)`")


@dataclass
class Document:
    """Headings, paragraphs, images and tables, in order."""

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", level, text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def image(self, file: str, alt: str) -> None:
        self.blocks.append(("image", file, alt))

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.blocks.append(("table", list(columns), [[_cell(v) for v in r] for r in rows]))

    def images(self) -> list[str]:
        return [b[1] for b in self.blocks if b[0] == "image"]

    def markdown(self) -> str:
        out = [f"# {self.title}"]
        for kind, *args in self.blocks:
            if kind == "heading":
                out.append(f"{'#' * args[0]} {args[1]}")
            elif kind == "paragraph":
                out.append(args[0])
            elif kind == "image":
                out.append(f"![{args[1]}]({args[0]})")
            else:
                columns, rows = args
                esc = lambda s: s.replace("|", "\\|")  # noqa: E731
                lines = ["| " + " | ".join(map(esc, columns)) + " |", "|" + "---|" * len(columns)]
                lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
                out.append("\n".join(lines))
        return "\n\n".join(out) + "\n"

    def html(self) -> str:
        body = [f"<h1>{_inline(self.title)}</h1>"]
        for kind, *args in self.blocks:
            if kind == "heading":
                body.append(f"<h{args[0]}>{_inline(args[1])}</h{args[0]}>")
            elif kind == "paragraph":
                body.append(f"<p>{_inline(args[0])}</p>")
            elif kind == "image":
                src, alt = html.escape(args[0], quote=True), html.escape(args[1], quote=True)
                body.append(f'<p><img src="{src}" alt="{alt}"></p>')
            else:
                columns, rows = args
                head = "".join(f"<th>{_inline(c)}</th>" for c in columns)
                cells = "".join("<tr>" + "".join(f"<td>{_inline(v)}</td>" for v in r) + "</tr>\n" for r in rows)
                body.append(f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{cells}</tbody>\n</table>")
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + "\n</body>\n</html>\n"
        )


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
    "img{max-width:100%}table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}"
    "code{background:#f3f3f3;padding:0 .2em}"
)


def _inline(text: str) -> str:
    """Escaped text with `code` spans (the only inline markup the report uses)."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    return str(v).replace("\n", " ")
