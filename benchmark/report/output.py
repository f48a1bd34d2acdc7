"""What every page of the report shares: where files go (and which ones are stale), relative links,
number formats and the sentence a test of significance becomes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from benchmark.report.stats import TestResult

ALPHA = 0.05
GENERATED = "Generated from the run records by `python -m benchmark.report`; do not edit by hand."
#: the folders under report_dir the report owns, with the suffix of the files it writes there
OWNED = {
    "leaderboards": ".md",
    "studies": ".md",
    "cards": ".md",
    "plots/confusion": ".png",
    "plots/learning": ".png",
    "plots/scatter": ".png",
    "plots/robustness": ".png",
}


class Output:
    """Writes files under report_dir, remembers them, links between them with relative paths, and tells
    which files a report changed (`changed`): the content of every file it owns is read first."""

    def __init__(self, report_dir: Path):
        self.root = report_dir
        self.written: list[Path] = []
        self.removed: list[Path] = []
        self.before = {os.path.abspath(p): _digest(p) for p in self._owned()}

    def _owned(self) -> list[Path]:
        files = [p for folder, suffix in OWNED.items() for p in sorted(self.path(folder).glob(f"*{suffix}"))]
        return files + [p for p in [self.path("README.md")] if p.is_file()]

    def path(self, relative: str) -> Path:
        return self.root / relative

    def text(self, relative: str, content: str) -> Path:
        path = self.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
        return self.keep(path)

    def keep(self, path: Path) -> Path:
        self.written.append(path)
        return path

    def remove_stale(self) -> None:
        """Delete the files of the owned folders the report wrote before and not this time (a record was
        removed). A page without the report's `GENERATED` line is not the report's (a study a bench script
        writes beside the variants pages, results/studies/face_finding.md): it stays."""
        kept = {os.path.abspath(p) for p in self.written}
        for folder, suffix in OWNED.items():
            for path in sorted(self.path(folder).glob(f"*{suffix}")):
                if os.path.abspath(path) not in kept and (suffix != ".md" or _generated(path)):
                    path.unlink()
                    self.removed.append(path)

    def changed(self) -> list[tuple[str, Path]]:
        """("new" | "changed" | "removed", path) of every file the report wrote with other content than
        it had, or removed."""
        out = []
        for path in self.written:
            before = self.before.get(os.path.abspath(path))
            if before != _digest(path):
                out.append(("new" if before is None else "changed", path))
        return out + [("removed", p) for p in self.removed]


def _generated(path: Path) -> bool:
    """Whether the markdown file at `path` is one the report wrote: its `GENERATED` line is near its top."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return GENERATED in f.read(2000)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def relative(target: Path, from_dir: Path) -> str:
    """The path of `target` seen from `from_dir`, with forward slashes (what markdown links need)."""
    return Path(os.path.relpath(os.path.abspath(target), os.path.abspath(from_dir))).as_posix()


def link(text: str, target: Path, from_dir: Path) -> str:
    """A markdown link to `target`, relative to `from_dir`."""
    return f"[{text}]({relative(target, from_dir)})"


def test_text(result: TestResult | str) -> str:
    """A test's result as a sentence, or why no test was made."""
    if isinstance(result, str):
        return result + "."
    verdict = "significant" if result.p_value < ALPHA else "not significant"
    return f"{result.name}, p = {result.p_value:.3g}: {verdict} at the {ALPHA:.0%} level ({result.detail})."


def pct(x: float) -> str:
    """A fraction as a percentage with two decimals."""
    return f"{100 * x:.2f}"


def pm(d: dict) -> str:
    """A metric's mean and std (fractions) as 'mean ± std' percentages."""
    return f"{pct(d['mean'])} ± {pct(d['std'])}"
