"""MkDocs hooks of ferbench's documentation site (mkdocs.yml, `hooks:`): the parts of the site that are
generated from the code, conf/ and results/ at build time, so that they cannot drift from them.

- Markers in a page's Markdown, replaced when the page is built:
  `<!-- ferbench:help COMMAND -->` the text of `ferbench COMMAND --help`, as a code block;
  `<!-- ferbench:configuration -->` the reference of conf/ (`conf_reference.render`);
  `<!-- ferbench:openapi -->` the REST API reference from the server's OpenAPI schema
  (`openapi_reference.render`);
  `<!-- ferbench:perturbations -->` the robustness protocol's perturbations and their settings at each
  severity (`benchmark.perturbations.SCALES`).
  An unknown marker, or a command without help, is a warning (an error under `mkdocs build --strict`).
- `applications/openapi.json`: that schema, as a file of the site; `results/runs/index.md`: a page that
  links every committed run record (the report's pages link to the folder).
- A nav entry with a wildcard (`results/cards/*.md`) becomes the pages it matches, in name order, so
  a model card the report writes appears without editing mkdocs.yml.
- Every committed model (a folder of results/models/) must have its card (results/cards/<model>.md,
  written by `ferbench report`): a missing one is a warning, so `--strict` fails on it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))  # the generators beside this file
sys.path.insert(0, str(ROOT))  # the project's packages, for a build run from another folder

import conf_reference  # noqa: E402
import openapi_reference  # noqa: E402
from markdown_text import escape  # noqa: E402

log = logging.getLogger("mkdocs.hooks.ferbench")
MARKER = re.compile(r"<!--\s*ferbench:(?P<name>[\w-]+)(?:\s+(?P<arg>[^>]*?))?\s*-->")
OPENAPI_FILE = "applications/openapi.json"
MODELS = ROOT / "results" / "models"
RUNS = ROOT / "results" / "runs"
RUNS_INDEX = "results/runs/index.md"
CARDS = ROOT / "results" / "cards"


def _is_section(value) -> bool:
    """Whether a nav value is (or becomes) a section: a list of items, or a wildcard path."""
    return isinstance(value, list) or (isinstance(value, str) and "*" in value)


def _expand(items: list, docs_dir: Path) -> list:
    """A nav (mkdocs.yml's list of pages and sections) with each wildcard path replaced by the pages it
    matches under docs_dir, sorted; an `index.md` among them is left out (the section's own page)."""
    out = []
    for item in items:
        if isinstance(item, str) and "*" in item:
            matches = sorted(p.relative_to(docs_dir).as_posix() for p in docs_dir.glob(item) if p.name != "index.md")
            if not matches:
                log.warning(f"nav entry {item} matches no page under {docs_dir}")
            out += matches
        elif isinstance(item, dict):  # {title: page} or {title: [section's items]}
            out.append(
                {
                    k: _expand(v if isinstance(v, list) else [v], docs_dir) if _is_section(v) else v
                    for k, v in item.items()
                }
            )
        else:
            out.append(item)
    return out


def on_config(config):
    """Expand the nav's wildcard entries (see the module docstring)."""
    if config.nav:
        config.nav = _expand(config.nav, Path(config.docs_dir))
    return config


def _records_page() -> str:
    """The index of results/runs/ (the report's pages link to the folder): one link per committed record,
    grouped by data set and protocol, as their file names say."""
    groups: dict[str, list[str]] = {}
    for path in sorted(RUNS.glob("*.json")):
        groups.setdefault(" | ".join(path.name.split("__")[:2]), []).append(path.name)
    lines = [
        "# Run records",
        "",
        "Every committed run record (`results/runs/`), from which every table of this site is generated: "
        "[Records and run keys](../../benchmark/records.md) says what a record holds.",
        "",
    ]
    for group, names in groups.items():
        lines += [f"## {group}", "", *(f"- [{name}]({name})" for name in names), ""]
    return "\n".join(lines)


def on_files(files, config):
    """Add the OpenAPI schema and the index of the run records as files of the site; warn for each
    committed model without a card."""
    files.append(File.generated(config, OPENAPI_FILE, content=openapi_reference.as_json(openapi_reference.schema())))
    if RUNS.is_dir() and files.get_file_from_path(RUNS_INDEX) is None:
        files.append(File.generated(config, RUNS_INDEX, content=_records_page()))
    models = sorted(p.name for p in MODELS.iterdir() if p.is_dir()) if MODELS.is_dir() else []
    for name in models:
        if not (CARDS / f"{name}.md").is_file():
            log.warning(
                f"the committed model results/models/{name}/ has no card (results/cards/{name}.md): "
                "run `ferbench report` to write it"
            )
    return files


def _help(command: str) -> str:
    """The text `ferbench COMMAND --help` prints (`ferbench --help` for an empty command)."""
    from benchmark import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main([*command.split(), "--help"])
    if status not in (0, None) or not out.getvalue().strip():
        log.warning(f"`ferbench {command} --help` printed no help (exit status {status})")
    return out.getvalue().rstrip()


def _perturbations() -> str:
    """The table of the robustness protocol's perturbations and their settings at each severity
    (`benchmark.perturbations.SCALES`), the crop-only ones marked."""
    from benchmark.perturbations import CROP_ONLY, N_SEVERITIES, SCALES

    def shown(value) -> str:
        return " / ".join(map(str, value)) if isinstance(value, tuple) else str(value)

    severities = " | ".join(str(s) for s in range(1, N_SEVERITIES + 1))
    lines = [f"| perturbation | scale | {severities} |", "|---|---|" + "---|" * N_SEVERITIES]
    for name, (scale, values) in SCALES.items():
        note = " (face crops only)" if name in CROP_ONLY else ""
        lines.append(f"| `{name}`{note} | {escape(scale)} | " + " | ".join(shown(v) for v in values) + " |")
    return "\n".join(lines)


def _marker(match: re.Match, page) -> str:
    """The generated text of one marker (see the module docstring)."""
    name, arg = match["name"], (match["arg"] or "").strip()
    if name == "help":
        return "```text\n" + _help(arg) + "\n```"
    if name == "configuration":
        from core.io import CONF_DIR

        return conf_reference.render(CONF_DIR)
    if name == "openapi":
        return openapi_reference.render(openapi_reference.schema())
    if name == "perturbations":
        return _perturbations()
    log.warning(
        f"{page.file.src_uri}: unknown marker ferbench:{name} (known: help, configuration, openapi, perturbations)"
    )
    return match[0]


def on_page_markdown(markdown, page, config, files):
    """Replace the page's markers by their generated text."""
    return MARKER.sub(lambda m: _marker(m, page), markdown)
