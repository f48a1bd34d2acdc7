"""`ferbench report [key=value ...]` (or `python -m benchmark.report`): regenerate the leaderboards, plots and
pages under report_dir from the run records, and print each file whose content changed.

The project README's headline table is rewritten only when `readme=` names it: the repository's own
regeneration command is `ferbench report readme=README.md`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmark import cli
from benchmark.cli import Option
from core.errors import ConfigError


def options() -> tuple[Option, ...]:
    """The report's options; results_dir's default is the runs' own (conf/config.yaml)."""
    return (
        Option("results_dir", cli.run_default("results_dir"), "the folder of run records (the runs' results_dir)"),
        Option("report_dir", "results", "where leaderboards/, plots/ and README.md are (re)generated"),
        Option(
            "cards",
            True,
            "a model card for every committed model under report_dir/cards/ (false: none, and earlier ones go)",
            kind="flag",
        ),
        Option("models_dir", cli.run_default("models_dir"), "the committed models the cards are of"),
        Option(
            "readme",
            None,
            "a markdown file whose <!-- results:start --> ... <!-- results:end --> block "
            "gets the headline table (null: no file outside report_dir is touched)",
        ),
    )


EXAMPLES = (
    "ferbench report                                  # results/ from results/runs/",
    "ferbench report results_dir=my_runs report_dir=my_report",
    "ferbench report readme=README.md                 # the repository's regeneration: the README's table too",
    "ferbench report cards=false                      # no model cards",
)


def main(argv: list[str] | None = None, prog: str = "python -m benchmark.report") -> int:
    """`ferbench report`; the exit status: 2 for a bad option or no records."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if cli.wants_help(argv):
        print(
            cli.help_text(
                prog,
                "Leaderboards, plots and pages from the run records.",
                options(),
                EXAMPLES,
                notes="Files whose content changed are listed; nothing else is written.",
            )
        )
        return 0
    return cli.run_main(lambda: _report(argv))


def _report(argv: list[str]) -> int:
    from benchmark.report.pages import write_report

    args, _, _ = cli.parse(argv, options())
    changed = write_report(args["results_dir"], args["report_dir"], args["readme"], _models_dir(args))
    for status, path in changed:
        print(f"{status:8} {path}")
    print(
        f"{len(changed)} file(s) changed under {args['report_dir']}"
        + (f" and {args['readme']}" if args["readme"] else "")
        if changed
        else "report up to date: no file changed"
    )
    return 0


def _models_dir(args: dict) -> Path | None:
    """The folder of committed models to write cards for, or None (cards=false; or the default folder,
    absent: a working folder without models of its own, which the report's output says). A folder named
    and absent is an error."""
    if not args["cards"]:
        return None
    path = Path(args["models_dir"])
    if path.is_dir():
        return path
    if args["models_dir"] == cli.run_default("models_dir"):
        print(f"note: no model cards: no {path} here (models_dir=DIR names the committed models)", file=sys.stderr)
        return None
    raise ConfigError(f"models_dir {path} is not a folder: name the folder of committed models, or cards=false")


if __name__ == "__main__":
    sys.exit(main())
