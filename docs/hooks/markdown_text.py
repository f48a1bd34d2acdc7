"""Text for the Markdown the docs hooks generate: what a comment or a schema says, shown as written."""

from __future__ import annotations

import re

CODE_SPAN = re.compile(r"(`[^`]*`)")
ENTITIES = {"<": "&lt;", ">": "&gt;", "{": "&#123;", "}": "&#125;", "|": "\\|"}


def escape(text: str) -> str:
    """`text` shown as written in a paragraph or a table cell: outside its code spans, angle brackets
    (not HTML tags), braces (not attribute lists) and pipes (not cell borders) are escaped; inside them,
    pipes only (a code span keeps its characters, but a pipe still ends a table cell)."""
    parts = CODE_SPAN.split(text)
    return "".join(
        part.replace("|", "\\|") if i % 2 else "".join(ENTITIES.get(ch, ch) for ch in part)
        for i, part in enumerate(parts)
    )


def code(text: str) -> str:
    """`text` as inline code in a table cell (a value: `[a, b]`, `{k: v}`); a text holding a backtick gets
    a longer fence."""
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"
