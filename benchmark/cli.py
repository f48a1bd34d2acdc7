"""`ferbench COMMAND [key=value ...]`: one command for the benchmark and the applications.

    ferbench run dataset=jaffe method=lbp_svm protocol=subject_kfold   # an experiment (Hydra; -m: a sweep)
    ferbench predict photo.jpg                                         # the faces of a photo, folder, video
    ferbench serve                                                     # the web page and REST API
    ferbench report                                                    # leaderboards and plots from records
    ferbench verify data_root=~/data                                   # are the data sets what we think?
    ferbench records data_root=~/data                                  # give old records their data's digest

Every command speaks one grammar, `key=value` (Ultralytics' `yolo TASK key=value` is the model): `run`
hands its words to Hydra (`group=option`, `key=value`, `+key=value`, `-m`), the others parse theirs
here (`parse`), against a list of `Option`s that also makes their `--help`. A wrong word is a
one-line error that names what was typed and the closest valid names; a boolean is true / false (or
1 / 0) and nothing else. `python -m benchmark`, `python -m benchmark.predict` and the other module
forms run the same code.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, FerbenchError

#: command -> (module whose main(argv) runs it, what it does)
COMMANDS = {
    "run": ("benchmark.__main__", "run an experiment or a sweep (Hydra: group=option key=value, -m)"),
    "predict": ("benchmark.predict", "recognise the expression of every face in photos, folders, videos, a camera"),
    "serve": ("benchmark.serve", "the web page and the REST API on this machine"),
    "report": ("benchmark.report.__main__", "leaderboards, plots and pages from the run records"),
    "verify": ("benchmark.verify", "check the data sets under data_root against their published counts"),
    "records": ("benchmark.records", "give the run records that have none the fingerprint of their data"),
}
HELP_WORDS = ("-h", "--help", "help")
TRUE, FALSE = ("true", "1"), ("false", "0")


@dataclass(frozen=True)
class Option:
    """One `key=value` option of a command.

    kind: "text" (a string; a path), "flag" (true / false / 1 / 0), "int", "float", or "choice"
    (one of `choices`). low / high: a number's bounds (inclusive). A default of None makes the
    option optional: `key=null` (or `none` where that is not a choice, or nothing) gives None.
    repeat: the option may be given several times, or as a comma-separated list; its value is a list.
    """

    name: str
    default: object
    help: str
    kind: str = "text"
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    repeat: bool = False

    def convert(self, text: str):
        """The value of `text` for this option; a ConfigError (keyed by the option's name) otherwise."""
        from core import validation as check

        if self.repeat:
            return [v for part in text.split(",") if (v := part.strip())]
        if text.lower() in ("null", "none", "") and text not in self.choices and self.default is None:
            return None
        if not text.strip():
            raise ConfigError(f"is empty; its default is {self.shown_default()}", self.name)
        if self.kind == "flag":
            if text.lower() not in TRUE + FALSE:
                raise ConfigError(f"must be true or false (or 1 / 0), got '{text}'", self.name)
            return text.lower() in TRUE
        if self.kind == "choice":
            if text not in self.choices:
                raise ConfigError(
                    f"must be one of {' | '.join(self.choices)}, got '{text}'" + did_you_mean(text, self.choices),
                    self.name,
                )
            return text
        if self.kind in ("int", "float"):
            bounds = {"low": self.low} if self.low is not None else {}
            bounds |= {"high": self.high} if self.high is not None else {}
            return check.number(self.name, _number(text), integer=self.kind == "int", **bounds)
        return text

    def shown_default(self) -> str:
        if self.repeat and not self.default:
            return "none"
        return (
            "null" if self.default is None else str(self.default).lower() if self.kind == "flag" else str(self.default)
        )


def run_default(key: str):
    """A top-level key's default in conf/config.yaml (e.g. results_dir), so that a command's option
    and the runs share one default."""
    from omegaconf import OmegaConf

    from core.io import CONF_DIR

    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "config.yaml"), resolve=False)[key]


def _number(text: str):
    """The number `text` writes (the text itself when it is none: the check says so)."""
    try:
        return int(text) if text.strip().lstrip("+-").isdigit() else float(text)
    except ValueError:
        return text


def did_you_mean(word: str, valid: Sequence[str]) -> str:
    """'; did you mean X or Y?' with the valid names closest to `word`, or '' when none is close."""
    close = difflib.get_close_matches(word, list(valid), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def unknown(what: str, word: str, valid: Sequence[str]) -> ConfigError:
    """The one-line error of a word that is none of `valid`: what was typed, the closest valid
    names, and all of them when there are few."""
    listed = f" ({what}s: {', '.join(valid)})" if len(valid) <= 20 else ""
    return ConfigError(f"unknown {what} '{word}'{did_you_mean(word, valid)}{listed}")


def wants_help(argv: Sequence[str]) -> bool:
    """Whether the words ask for help (-h / --help anywhere)."""
    return any(word in HELP_WORDS[:2] for word in argv)


def parse(
    argv: Sequence[str], options: Sequence[Option], positional: bool = False, passthrough: str | None = None
) -> tuple[dict, list[str], list[str]]:
    """(options, positional words, passed-through words) of a command line of `key=value` words.

    positional: whether the command takes words without `=` (predict's paths); a word with `=` that
    names an existing file is positional too, and every word after `--`. passthrough: a key prefix
    (e.g. "dataset.") whose words are returned as they are, for Hydra. Raises ConfigError for an
    unknown key (with the closest ones), a bad value, an option given twice, a `--flag` (with its
    key=value spelling), or a positional word where the command takes none.
    """
    by_name = {o.name: o for o in options}
    values = {o.name: list(o.default or []) if o.repeat else o.default for o in options}
    given, words, passed = set(), [], []
    argv = list(argv)
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--" and positional:
            words += argv[i:]
            break
        key, sep, value = word.partition("=")
        if word.startswith("-") and not (positional and Path(word).exists()):
            name = key.lstrip("-").replace("-", "_")
            if name in by_name:
                spelled = f"{name}={value if sep else (argv[i] if i < len(argv) else '...')}"
                raise ConfigError(f"'{word}' is not how options are given here: write {spelled}")
            raise unknown("option", word, list(by_name))
        if sep and passthrough and key.lstrip("+~").startswith(passthrough):
            passed.append(word)
        elif sep and key in by_name:
            option = by_name[key]
            if key in given and not option.repeat:
                raise ConfigError(f"is given twice ({key}={values[key]} and {word})", key)
            converted = option.convert(value)
            values[key] = values[key] + converted if option.repeat else converted
            given.add(key)
        elif sep and not (positional and Path(word).exists()):
            raise unknown("option", key, list(by_name))
        elif positional:
            words.append(word)
        else:
            raise ConfigError(f"'{word}' is not an option (key=value); options: {', '.join(by_name)}")
    return values, words, passed


def help_text(
    prog: str,
    summary: str,
    options: Sequence[Option],
    examples: Sequence[str],
    usage: str | None = None,
    notes: str = "",
) -> str:
    """A command's --help: usage, what it does, every option with its default, examples."""
    width = max([len(f"{o.name}=") + 2 for o in options] + [12])
    lines = [f"usage: {usage or prog + ' [key=value ...]'}", "", summary, ""]
    if options:
        lines.append("options (default):")
        for o in options:
            what = o.help + (f" ({' | '.join(o.choices)})" if o.kind == "choice" and o.choices else "")
            lines.append(f"  {o.name + '=':<{width}} {what} (default {o.shown_default()})")
        lines.append("")
    if notes:
        lines += [notes.rstrip(), ""]
    lines.append("examples:")
    lines += [f"  {e}" for e in examples]
    return "\n".join(lines)


def run_main(main: Callable[[], int | None]) -> int:
    """`main()`, with our errors (a `FerbenchError`, e.g. a bad option) as one line on stderr and exit
    status 2 instead of a traceback."""
    try:
        return main() or 0
    except FerbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def overview() -> str:
    """`ferbench --help`: the commands and what each does."""
    width = max(map(len, COMMANDS)) + 2
    lines = [
        "usage: ferbench COMMAND [key=value ...]     (ferbench COMMAND --help: its options and examples)",
        "",
        "FER benchmark: classical pipelines and CNNs under honest protocols, and the models on your photos.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}{what}" for name, (_, what) in COMMANDS.items()]
    lines += [
        "",
        "examples:",
        "  ferbench run dataset=jaffe method=lbp_svm protocol=subject_kfold",
        "  ferbench predict photo.jpg",
        "  ferbench serve port=8080",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The `ferbench` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in HELP_WORDS:
        print(overview())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "--version":
        from importlib.metadata import version

        print(f"ferbench {version('ferbench')}")
        return 0
    if command not in COMMANDS:
        print(f"error: {unknown('command', command, list(COMMANDS))}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return module.main(rest, prog=f"ferbench {command}") or 0
    except BrokenPipeError:  # the reader went away (`ferbench run --help | head`): no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
