"""The configuration reference of the docs site, generated from conf/ at build time: every config group,
each of its options (one YAML file) with the comment block at the top of the file as its description,
the groups and experiments it builds on (`defaults`), and each key it sets with its value and the
comment beside it or just above it as the key's description. Nothing here is typed twice: a key or
comment changed in conf/ changes the page.

`render(conf_dir)` returns the Markdown; `describe(path)` the parts of one file (`ConfFile`).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from markdown_text import code, escape
from omegaconf import OmegaConf

#: where a group's keys live in the composed config, where that is not the group's own name
#: (a `@package` line in the file wins)
PACKAGES = {
    "classifier": "method.classifier",
    "features": "method.features",
    "detector/crop": "detector",
    "method/base": "method",
    "model/timm": "model",
}
#: what each group is, for the page's section headings (the groups conf/ has and this lacks get none)
GROUPS = {
    "": "Top-level keys (conf/config.yaml)",
    "dataset": "Data sets: dataset=",
    "protocol": "Protocols: protocol=",
    "detector": "Face detectors: detector=",
    "detector/crop": "Crop settings every detector shares",
    "method": "Methods: method=",
    "method/base": "What the classical methods share",
    "features": "Features of the classical methods: features@method.features=",
    "classifier": "Classifiers of the classical methods: classifier@method.classifier=",
    "model": "Networks of the deep methods: model=",
    "model/timm": "timm presets: model=timm/<architecture>",
    "perturb": "Robustness protocol: +perturb=",
    "experiment": "Named experiments: +experiment=",
    "sweep": "Sweeps: +sweep=",
    "sweep/arm": "Sweep arms (methods): +sweep/arm=",
    "sweep/track": "Sweep tracks (data set, protocol, detector): +sweep/track=",
}
#: groups shown as one table of options and descriptions (their files only choose other groups)
COMPACT = ("sweep/arm", "sweep/track")
#: groups chosen with a leading + (not in the defaults list of conf/config.yaml)
ADDED = ("experiment", "perturb", "sweep", "sweep/arm", "sweep/track")
KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w.@/-]*)\s*:(?:\s+(?P<rest>.*)|\s*)$")


@dataclass
class ConfFile:
    """One YAML file of conf/: its description (the leading comment block as `_blocks`), package
    (`_global_` or None), defaults (the entries of its defaults list, as written), and keys: (dotted key,
    value as YAML text, description) in file order, for every leaf key outside `defaults` and `hydra`."""

    description: list[tuple[str, str]]
    package: str | None
    defaults: list[str] = field(default_factory=list)
    keys: list[tuple[str, str, str]] = field(default_factory=list)


def _blocks(header: list[str]) -> list[tuple[str, str]]:
    """The leading comment block as ("text", paragraph) and ("code", lines) blocks: a line indented by more
    than one space after its '#' is an example command, kept as written; a blank line ends a paragraph."""
    blocks: list[tuple[str, str]] = []
    for raw in header:
        kind = "code" if raw.startswith("  ") and raw.strip() else "text"
        text = raw.strip() if kind == "text" else raw.rstrip()
        if not raw.strip():
            blocks.append(("text", ""))  # a paragraph break
        elif blocks and blocks[-1][0] == kind and blocks[-1][1]:
            blocks[-1] = (kind, blocks[-1][1] + ("\n" if kind == "code" else " ") + text)
        else:
            blocks.append((kind, text))
    return [(kind, textwrap.dedent(text) if kind == "code" else text) for kind, text in blocks if text]


def _comment(line: str) -> str:
    """The text of a comment line ('# text' -> 'text')."""
    return line.strip()[1:].strip()


def _split_comment(text: str) -> tuple[str, str]:
    """(value, inline comment) of the text after a key's colon: a comment starts at the first ' #'
    outside quotes (YAML's rule: '#' after whitespace)."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].strip(), text[i + 1 :].strip()
    return text.strip(), ""


def _yaml_text(value) -> str:
    """A value as one line of YAML flow text: null, true, 5, [a, b], {k: v}."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _leaves(node, prefix: str = "") -> dict[str, object]:
    """{dotted key: value} of every leaf of a mapping; an empty mapping or a list is a leaf."""
    found = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found.update(_leaves(value, path + "."))
        else:
            found[path] = value
    return found


def _comments(lines: list[str]) -> dict[str, str]:
    """{dotted key: its comment}: the comment lines just above the key (no blank line between, not the
    file's leading block), the comment after its value, and the comments after the lines its value
    continues on (a flow list over several lines, a block list's items), joined."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    above: list[str] = []
    path = None
    for line in lines:
        stripped = line.strip()
        if not stripped:
            above = []
            continue
        if stripped.startswith("#"):
            above.append(_comment(line))
            continue
        match = KEY.match(line)
        if not match or stripped.startswith("- "):
            above = []  # a list item or a value's continuation line: its comment is the key's above
            _, inline = _split_comment(stripped)
            if path is not None and inline:
                found[path] = f"{found[path]} {inline}".strip()
            continue
        indent = len(match["indent"])
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, match["key"])]
        path = ".".join(k for _, k in stack)
        _, inline = _split_comment(match["rest"] or "")
        found[path] = " ".join([*above, inline]).strip()
        above = []
    return found


def describe(path: Path) -> ConfFile:
    """The parts of one conf/ YAML file (`ConfFile`). Raises OSError when it cannot be read and
    yaml / omegaconf errors when it is not YAML."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header, package, start = [], None, len(lines)
    for i, line in enumerate(lines):
        if line.strip().startswith("#"):
            text = line.strip()[1:]
            if text.strip().startswith("@package"):
                package = text.split()[1]
            else:
                header.append(text)
        elif line.strip():
            start = i
            break
        else:
            header.append("")  # a blank line ends a paragraph
    description = _blocks(header)
    body = lines[start:]
    container = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    defaults = []
    for item in container.pop("defaults", []) or []:
        defaults.append(
            _yaml_text(item) if not isinstance(item, dict) else ", ".join(f"{k}: {v}" for k, v in item.items())
        )
    container.pop("hydra", None)
    comments = _comments(body)
    keys = [(k, _yaml_text(v), comments.get(k, "")) for k, v in _leaves(container).items()]
    return ConfFile(description, package, defaults, keys)


def _description(conf: ConfFile) -> list[str]:
    """An option's description as Markdown lines: its paragraphs, and its example commands as code."""
    lines = []
    for kind, text in conf.description:
        lines += ["```", text, "```", ""] if kind == "code" else [escape(text), ""]
    return lines


def _options(conf_dir: Path) -> dict[str, list[str]]:
    """{group: its options}, groups in the order of GROUPS (others after, alphabetically)."""
    found = {}
    for folder in sorted(p for p in conf_dir.rglob("*") if p.is_dir()):
        group = folder.relative_to(conf_dir).as_posix()
        if group.split("/")[0] == "hydra":
            continue
        options = sorted(f.stem for f in folder.glob("*.yaml"))
        if options:
            found[group] = options
    order = list(GROUPS)
    return dict(sorted(found.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])))


def _choice(group: str, option: str) -> str:
    """How an option is chosen on the command line: dataset=jaffe, +experiment=x, features@method.features=hog."""
    if group in ("classifier", "features"):
        return f"{group}@method.{group}={option}"
    if group in ("detector/crop", "method/base"):
        return f"{group}/{option} (listed under another option's defaults)"
    if group == "model/timm":
        return f"model=timm/{option}"
    return f"{'+' if group in ADDED else ''}{group}={option}"


def _keys_table(conf: ConfFile, prefix: str) -> list[str]:
    """The table of an option's keys: key (as set on the command line), default, description."""
    keys = [(k, v, d) for k, v, d in conf.keys if k not in ("_target_", "_convert_")]
    if not keys:
        return []
    lines = ["| key | default | description |", "|---|---|---|"]
    for key, value, text in keys:
        lines.append(f"| {code(prefix + key)} | {code(value)} | {escape(text)} |")
    return lines + [""]


def _section(group: str, option: str, conf: ConfFile) -> list[str]:
    """One option's part of the page: heading, description, what it builds and builds on, its keys."""
    lines = [f"### `{_choice(group, option)}`", ""]
    lines += _description(conf)
    target = dict((k, v) for k, v, _ in conf.keys).get("_target_")
    facts = []
    if target:
        facts.append(f"builds `{target}`")
    if conf.defaults:
        facts.append("builds on " + ", ".join(f"`{d}`" for d in conf.defaults if d != "_self_"))
    facts.append(f"file `conf/{group + '/' if group else ''}{option}.yaml`")
    lines += ["<small>" + "; ".join(facts) + "</small>", ""]
    if conf.package == "_global_":
        prefix = ""
    else:
        prefix = PACKAGES.get(group, group)
        prefix = f"{prefix}." if prefix else ""
    return lines + _keys_table(conf, prefix)


def render(conf_dir: Path) -> str:
    """The Markdown of the whole reference: conf/config.yaml's keys, then each group (sections in the
    order of `GROUPS`), each option with its description and keys. Raises OSError or a YAML error for
    a file that cannot be read."""
    conf_dir = Path(conf_dir)
    top = describe(conf_dir / "config.yaml")
    lines = [f"## {GROUPS['']}", "", *_description(top)]
    lines += ["Defaults: " + ", ".join(f"`{d}`" for d in top.defaults if d != "_self_"), ""]
    lines += _keys_table(top, "")
    for group, options in _options(conf_dir).items():
        if group == "":
            continue
        lines += [f"## {escape(GROUPS.get(group, group + '='))}", ""]
        if group in COMPACT:
            lines += ["| option | what it is |", "|---|---|"]
            for option in options:
                conf = describe(conf_dir / group / f"{option}.yaml")
                text = " ".join(t for kind, t in conf.description if kind == "text")
                lines.append(f"| {code(_choice(group, option))} | {escape(text)} |")
            lines.append("")
            continue
        for option in options:
            lines += _section(group, option, describe(conf_dir / group / f"{option}.yaml"))
    return "\n".join(lines).rstrip() + "\n"
