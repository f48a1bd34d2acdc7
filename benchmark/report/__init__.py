"""From run records to every table and plot of results/: `python -m benchmark.report [results_dir=...]
[report_dir=...]`.

Reads all run records in `results_dir` and (re)writes, under `report_dir`:

- `leaderboards/<dataset>__<protocol>.md`: the ranked rows, whether #1's lead over #2 is
  significant, per-class F1, the published figures for that data set and protocol beside ours,
  and links to the plots and to every row's record;
- `leaderboards/classical_vs_deep.md` and `leaderboards/published.md`;
- `plots/`: normalised confusion matrices, learning curves of deep runs, accuracy vs speed;
- `cards/<data set>__<name>.md` and `cards/index.md`: a model card for every committed model under
  `models_dir` (its file's SHA-256, its experiment and training, its scores on every data set, its limits);
- `README.md`: the index, whose headline table also replaces the block between the
  `<!-- results:start -->` and `<!-- results:end -->` markers of the project README (`readme`).

The output is a pure function of the records (the cards also of the model files and conf/experiment/):
no timestamps, stable orders, PNGs without version metadata, so regenerating from the same records
gives the same bytes and a diff of results/ shows only what the runs changed. Files it wrote before
and no longer writes (a record was removed) are deleted; nothing else under report_dir is touched
(a page without its `GENERATED` line is not its own).

Modules: `leaderboard` (records grouped into ranked rows), `stats` (confidence intervals and
paired tests), `published` (the published figures set beside ours), `pages` (the markdown files),
`cards` (the model cards),
`summary` (the table a run prints when it ends). The figures are drawn by `core.plots`.
Nothing is imported here, so `benchmark.report.summary` costs the command line no plotting import.
"""
