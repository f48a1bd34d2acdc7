"""Numbers that cannot drift: every figure the README, the changelog and the docs pages cite must be one a
generated file holds, and the README's example prints what the README shows.

A *figure* is a measured number as a reader meets it: a decimal number (52.11, 0.5, 2.53x) or a
percentage (73 %, 52.11%), in prose, tables and code blocks alike. These are not figures, each for its reason:

- what stands between the report's `<!-- results:start -->` and `<!-- results:end -->` markers, and what a
  page includes (`{% include-markdown %}`, `--8<--`): it is a generated file's content already;
- link and image targets, URLs, and words that are paths or identifiers (`results/…`, `arXiv:2007.07314`):
  names, not measurements;
- versions and addresses (`0.1.0`, `127.0.0.1`): three or more dotted parts are never one number; nor is
  a number right after "Python", "version" or "CUDA" (`Python 3.10`);
- digits inside a name (`fer2013`, `py310`, `v3`): a number must not follow a letter, digit, `_` or `.`;
- settings: a number right after `=` (`margin=0.15`, `+method.contrast=0.3`), and in code a YAML or
  command-line setting (`margin: 0.15` at a line's start, `--lr 0.01`) and a requirement (`torch>=2.14`):
  what a user types, not what was measured; the same number elsewhere on the page that types it is that
  setting's value echoed (`protocol.k=2.7` and its error message's "got 2.7");
- HTML comments, which no reader sees.

Integers that are not percentages (counts, years, ports, sizes in pixels) are not figures: they are
exact, and most are not measurements. The generated files are the markdown files under results/ (the
report's leaderboards, variants pages, cards and index, and the studies bench scripts write there).
A figure counts as held when a generated file has the same number as written (a decimal as the same
digits; a whole-number percentage as the same number followed by %).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the hand-written pages whose figures are checked, besides docs/**/*.md
PAGES = ("README.md", "CHANGELOG.md", "CONTRIBUTING.md")
GENERATED_ROOT = ROOT / "results"
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"
MAX_README_LINES = 160

#: a number as written: thousands separated by commas or not, with decimals or not
NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
#: a number not inside a name (after a letter, digit, _ or .), not the start of a dotted version, with its %
FIGURE = re.compile(rf"(?<![\w.])({NUMBER})(?![\d]|\.\d)(\s?%)?")
#: a version after the name of what it versions
VERSION = re.compile(r"\b(?:Python|version|CUDA)\s+$", re.IGNORECASE)
#: settings in code: a YAML key at a line's start, a command-line option, a requirement
CODE_SETTING = re.compile(r"(?:^\s*[\w.+~/-]+:\s*|--[\w-]+[ =]|[<>=!~]=\s*|[<>]\s*)$")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")


@dataclass(frozen=True)
class Figure:
    """A figure a page cites: the number as written, with "%" for a percentage, and where it stands."""

    text: str
    percent: bool
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}{' %' if self.percent else ''}"


def figures(text: str, path: str = "<text>") -> list[Figure]:
    """Every figure of the markdown `text` (see the module docstring for what is not one), in order."""
    text = _without_generated(text)
    typed = set(re.findall(rf"=\s*({NUMBER})", text))  # settings typed on this page
    found, in_code = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        if re.match(r"\s*(\{%|--8<--)", line):  # an include: a generated file's content
            continue
        if in_code:
            found += _scan(line, path, number, code=True)
            continue
        spans = [(m.start(), m.end()) for m in INLINE_CODE.finditer(line)]
        for m in INLINE_CODE.finditer(line):
            found += _scan(m.group(2), path, number, code=True)
        prose = "".join(" " if any(a <= i < b for a, b in spans) else c for i, c in enumerate(line))
        found += _scan(prose, path, number, code=False)
    return [f for f in found if f.percent or f.text not in typed]


def _without_generated(text: str) -> str:
    """`text` with HTML comments, the report's results block, link targets, tags and template tags blanked
    (newlines kept, so line numbers stay)."""

    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    text = re.sub(re.escape(README_START) + r".*?" + re.escape(README_END), blank, text, flags=re.S)
    text = re.sub(r"<!--.*?-->", blank, text, flags=re.S)
    text = re.sub(r"\{[%{].*?[%}]\}", blank, text, flags=re.S)
    text = re.sub(r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)", lambda m: "]" + blank(m)[1:], text)
    return re.sub(r"</?[A-Za-z][^>\n]*>", blank, text)


def _scan(segment: str, path: str, line: int, code: bool) -> list[Figure]:
    out = []
    for m in FIGURE.finditer(segment):
        number, percent = m.group(1), bool(m.group(2))
        if "." not in number and not percent:
            continue  # an integer that is not a percentage: exact, not a figure
        before = segment[: m.start()]
        if before.endswith("=") or (code and CODE_SETTING.search(before)) or VERSION.search(before):
            continue  # a setting, a version
        word = _word(segment, m.start(), m.end())
        if "://" in word or re.search(r"[A-Za-z]", word) and ("/" in word or re.match(r"[A-Za-z][\w-]*:", word)):
            continue  # a URL, a path or an identifier
        out.append(Figure(number, percent, path, line))
    return out


def _word(segment: str, start: int, end: int) -> str:
    """The whitespace-delimited word around segment[start:end], without surrounding brackets and quotes."""
    left = segment.rfind(" ", 0, start) + 1
    right = segment.find(" ", end)
    return segment[left : len(segment) if right < 0 else right].strip("()[]{}<>,;\"'*_")


def held(generated_text: str) -> tuple[set[str], set[str]]:
    """(decimal numbers, whole-number percentages) a generated text holds, as written."""
    decimals, percents = set(), set()
    for m in FIGURE.finditer(generated_text):
        if "." in m.group(1):
            decimals.add(m.group(1))
        elif m.group(2):
            percents.add(m.group(1))
    return decimals, percents


def unheld(pages: dict[str, str], generated: list[str]) -> list[Figure]:
    """The figures of `pages` ({path: markdown}) that no text of `generated` holds."""
    decimals, percents = set(), set()
    for text in generated:
        d, p = held(text)
        decimals |= d
        percents |= p
    return [
        f
        for path, text in pages.items()
        for f in figures(text, path)
        if not (f.text in decimals if "." in f.text else f.text in percents)
    ]


def checked_pages() -> dict[str, str]:
    """{path relative to the repository: text} of README.md, CHANGELOG.md, CONTRIBUTING.md and every
    docs/**/*.md written by hand (a folder linked into docs/, docs/results, holds generated files: skipped)."""
    pages = {name: (ROOT / name).read_text(encoding="utf-8") for name in PAGES if (ROOT / name).is_file()}
    docs = ROOT / "docs"
    for folder, dirs, files in os.walk(docs):  # followlinks=False: docs/results -> ../results is not walked
        dirs[:] = sorted(d for d in dirs if not (Path(folder) / d).is_symlink())
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith(".md") and not path.is_symlink():
                pages[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
    return pages


def generated_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(GENERATED_ROOT.rglob("*.md"))]


# -- the checker, on texts made here ------------------------------------------------------------------------


def test_a_figure_is_a_decimal_or_a_percentage_in_prose_tables_and_code():
    text = (
        "The model reaches 73.47 % on PrivateTest, 2.53x faster; 95% of faces.\n"
        "| method | acc |\n|---|---|\n| cnn | 88.05 |\n"
        "```\nmean ± std | 63.67 ± 15.92\n```\n"
        "Counts are exact: 28,709 images, 213 photos, port 8000, 48x48 crops, in 2026.\n"
        "A thousands figure: 1,234.5 ms.\n"
    )
    assert [str(f) for f in figures(text, "p.md")] == [
        "p.md:1: 73.47 %",
        "p.md:1: 2.53",
        "p.md:1: 95 %",
        "p.md:4: 88.05",
        "p.md:6: 63.67",
        "p.md:6: 15.92",
        "p.md:9: 1,234.5",
    ]


def test_settings_versions_names_links_and_generated_blocks_are_not_figures():
    text = (
        "Run `ferbench run method.contrast=0.3 margin=0.15` with fer2013 and py310, version 0.1.0 on 127.0.0.1.\n"
        "Python 3.10 or newer; `ferbench run protocol.k=2.7` says: error: protocol.k must be an integer, got 2.7\n"
        "```yaml\nmargin: 0.15\nlr: 0.01   # a setting\n```\n"
        "```bash\npip install 'torch>=2.14' && train --lr 0.01\n```\n"
        "[the board](results/leaderboards/x_0.5.md) and ![plot](docs/plot_1.5.png) see arXiv:2007.07314\n"
        "<!-- results:start -->\n| 52.11 |\n<!-- results:end -->\n"
        "<!-- a note: 99.9 -->\n"
        '{% include-markdown "../results/cards/index.md" %}\n'
        "https://example.org/v1.2/page and docs at results/studies/0.25.md\n"
    )
    assert figures(text) == []


def test_a_figure_counts_only_when_a_generated_file_holds_it_as_written():
    generated = ["| cnn | 73.47 | 88.05 ± 0.12 |\n", "the 95% CI (Wilson); 1,940,199 params\n"]
    pages = {"README.md": "73.47 and 88.05 and 0.12, 95 % CI; but 73.5 and 88 % and 52.11 are typed by hand\n"}
    assert [str(f) for f in unheld(pages, generated)] == [
        "README.md:1: 73.5",
        "README.md:1: 88 %",
        "README.md:1: 52.11",
    ]


def test_json_output_in_code_is_checked_but_a_yaml_setting_is_not():
    text = '```\n{"label": "happy", "probability": 0.8695}\n```\n```yaml\ntau: 0.5\n```\n'
    assert [f.text for f in figures(text)] == ["0.8695"]


# -- the repository's pages -----------------------------------------------------------------------------


def test_the_readme_and_the_docs_cite_only_figures_a_generated_file_holds():
    pages = checked_pages()
    assert "README.md" in pages and GENERATED_ROOT.is_dir()
    missing = unheld(pages, generated_texts())
    assert not missing, (
        "figures typed by hand (no file under results/ holds them; include the generated table or snippet "
        "instead, or regenerate with `ferbench report readme=README.md`):\n" + "\n".join(map(str, missing))
    )


def test_the_readme_is_short_and_its_headline_table_is_the_reports():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= MAX_README_LINES
    block = readme[readme.index(README_START) : readme.index(README_END)]
    rows = [_cells(r.replace("](results/", "](")) for r in block.splitlines() if r.startswith("| ")]
    index = (GENERATED_ROOT / "README.md").read_text(encoding="utf-8")
    generated = [_cells(r) for r in index.splitlines() if r.startswith("| ")]
    assert rows and all(r in generated for r in rows), (
        "README.md's results block differs from results/README.md: run `ferbench report readme=README.md`"
    )


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.split("|")]


def test_the_readmes_python_example_prints_what_the_readme_shows(tmp_path):
    """The README's Python block, run on the photo its quick start makes, prints the block after it."""
    from PIL import Image
    from skimage import data

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```python\n(.*?)```\n```\n(.*?)```", readme, flags=re.S)
    assert found, "README.md has no ```python block followed by its output"
    code, shown = found.groups()
    Image.fromarray(data.astronaut()).save(tmp_path / "photo.jpg")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout == shown


@pytest.mark.parametrize("name", ["LICENSE", "CHANGELOG.md", "CONTRIBUTING.md"])
def test_the_repository_files_a_newcomer_looks_for_are_there(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    expected = {
        "LICENSE": "MIT License",
        "CHANGELOG.md": "## [Unreleased]",
        "CONTRIBUTING.md": "at most 72 characters",
    }[name]
    assert expected in text
