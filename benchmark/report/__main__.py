"""`python -m benchmark.report [results_dir=...] [report_dir=...] [readme=...]`: regenerate the report."""

from __future__ import annotations

import sys

from benchmark.config import compose_config
from benchmark.report.pages import write_report
from core.errors import ConfigError


def main(argv: list[str] | None = None) -> None:
    cfg = compose_config(sys.argv[1:] if argv is None else argv, config_name="report")
    try:
        written = write_report(cfg.results_dir, cfg.report_dir, cfg.readme)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"{len(written)} files written under {cfg.report_dir}")


if __name__ == "__main__":
    main()
