"""From run records to ranked leaderboard entries: grouping, ranking, significance of the lead.

A leaderboard is one (data set, protocol). Its rows are (method, detector, model, config): every
config run is a row of its own, its seeds averaged (mean ± std, `Entry.seeds`); a re-run of one seed
counts once, as its most recent record (`env.time`), and the count of records is kept, so nothing
is averaged across configs, hidden or cherry-picked. Where one (method, detector, model) was run
with several configs, each row but the one with the most seeds names how its config differs from
that one's (`Entry.variant`, e.g. "epochs=70, swa_epochs=0").

Optional record fields, read when present: `fit_details.n_features` (classical methods),
`fit_details.parameters` (deep methods), and for learning curves `fit_details.history` (a list of
per-epoch dicts, or a dict of per-epoch lists; in early deep records, the path of the history.csv
whose history.json sits beside it), or that of each of `fit_details.members` (ensembles); a
record's model is `record["model"]` or the config's `model` (its name, or the last part of its
`_target_`).
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from benchmark.report import stats
from core import plots

#: the config keys that seed a run: configs that differ only in these are one config run with other seeds
SEED_KEYS = ("seed", "random_state")


@dataclass(frozen=True)
class Entry:
    """One leaderboard row: the latest record of one config, how many records that config has, the
    records of its seeds (`seeds`, the latest of each seed, itself included, when there are several:
    the row's scores are their mean), and how its config differs from that of its (method, detector,
    model)'s main row (`variant`, "" for the main row or the only one)."""

    record: dict
    path: Path
    n_records: int
    seeds: tuple = ()
    variant: str = ""
    on_board: bool = True
    #: the files of every record of this config (its seeds, a seed run again, .superseded ones), oldest first
    paths: tuple = ()

    @property
    def runs(self) -> tuple:
        return self.seeds or (self.record,)

    @property
    def row_key(self) -> tuple[str, str, str]:
        return row_key(self.record)

    @property
    def label(self) -> str:
        """The row's name: its method, the network or models it ran in brackets, its face detector after a
        comma (none: the data set's own crops), and how its config differs where it is a variant, e.g.
        "cnn_transfer (fernet), haar", "pretrained (fernet x2 (seeds 0+2)) [tta=flip]"."""
        method, detector, model = self.row_key
        name = method + (f" ({model})" if model else "") + (f", {detector}" if detector not in ("", "none") else "")
        return f"{name} [{self.variant}]" if self.variant else name

    @property
    def kind(self) -> str:
        return family(self.record)

    @property
    def accuracy(self) -> float:
        """The test accuracy (mean over folds; for a model fitted elsewhere, method=pretrained, which scores
        every image once whatever the folds, over the images), averaged over the row's seeds."""
        pooled = self.record["method"] == "pretrained"
        return float(
            np.mean(
                [r["metrics"]["pooled"]["accuracy"] if pooled else r["metrics"]["accuracy"]["mean"] for r in self.runs]
            )
        )

    @property
    def macro_f1(self) -> float:
        """Macro-F1 averaged over the row's seeds: over folds, or under leave-one-subject-out, from the
        predictions pooled over folds (a fold holds one subject's one to three classes)."""
        pooled = self.record["protocol"] == "loso"
        return float(
            np.mean(
                [r["metrics"]["pooled"]["macro_f1"] if pooled else r["metrics"]["macro_f1"]["mean"] for r in self.runs]
            )
        )

    def seeds_text(self, values) -> str:
        """'mean ± std (n seeds, best b)' of `values` (one per seed, fractions), or '' for one seed."""
        if len(self.runs) < 2:
            return ""
        values = np.asarray(values, float)
        return (
            f"{100 * values.mean():.2f} ± {100 * values.std():.2f} ({len(values)} seeds, best {100 * values.max():.2f})"
        )

    @property
    def holdout(self) -> bool:
        """A single train/test cut (FER2013 official) rather than cross-validation folds."""
        return self.record["n_folds"] == 1


def load_records(results_dir: str | Path) -> tuple[list[tuple[Path, dict]], list[Path]]:
    """(path, record) of every record in `results_dir`, in the current shape (`benchmark.records.load`),
    and the JSON files that are not records."""
    from benchmark import records
    from core.errors import DataError

    found, unreadable = [], []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            found.append((path, records.load(path)))
        except DataError:
            unreadable.append(path)
    return found, unreadable


def row_key(record: dict) -> tuple[str, str, str]:
    """(method, detector, model): what makes one leaderboard row."""
    return record["method"] or "", record["detector"] or "", model_name(record) or ""


def model_name(record: dict) -> str | None:
    """The network's name, or for method=pretrained what it scored, named as what it is: the committed
    models it loaded (`checkpoints_name`, e.g. "fernet x2 (seeds 0+2)") and ", logit-adjusted (tau 0.5)"
    when its predictions were, so two committed models, or one scored two ways, are two rows."""
    if record["method"] == "pretrained":
        files, tau = record["config"]["method"]["model"], record["config"]["method"].get("logit_adjust")
        name = checkpoints_name(files if isinstance(files, list) else [files], home=record["dataset"])
        return f"{name}, logit-adjusted (tau {tau:g})" if tau else name
    model = record.get("model") or record["config"].get("model")
    if isinstance(model, dict):
        model = model.get("name") or str(model.get("_target_", "")).rsplit(".", 1)[-1] or None
    return None if model is None else str(model)


def checkpoints_name(files: list[str], home: str | None = None) -> str:
    """What a list of model files is, for a reader: the committed models (results/models/<data set>__<name>/)
    grouped by name with the seeds their experiments trained them with (`benchmark.experiments.models`; a
    name's `_seed<n>` left out) and the model a fine-tune started from, e.g. "fernet x2 (seeds 0+2)",
    "fernet_photometric (seed 2, fine-tuned from fernet_seed2)"; "ferplus fernet (seed 0)" where the data set
    the models learned from is not `home`. A file elsewhere is named by its file name."""
    from benchmark.experiments import models
    from benchmark.inference.models import model_folder

    trained = models()
    groups: dict[tuple, list] = defaultdict(list)
    for file in files:
        found = model_folder(file)
        if found is None:
            groups[(None, Path(file).name, None)].append(None)
            continue
        dataset, name = found
        made = trained.get(f"{dataset}__{name}", {})
        groups[(dataset, re.sub(r"_seed\d+$", "", name), made.get("init"))].append(made.get("seed"))
    parts = []
    for (dataset, base, init), seeds in groups.items():
        name = f"{dataset} {base}" if dataset and dataset != home else base
        known = [str(s) for s in seeds if s is not None]
        about = [f"seed{'s' if len(known) > 1 else ''} {'+'.join(known)}"] if known else []
        about += [f"fine-tuned from {init}"] if init else []
        parts.append(
            f"{name}{f' x{len(seeds)}' if len(seeds) > 1 else ''}" + (f" ({', '.join(about)})" if about else "")
        )
    return " + ".join(parts)


def family(record: dict) -> str:
    """ "classical" or "deep": what the run's estimator stated (`record["family"]`)."""
    return record["family"]


def split_boards(records: list[tuple[Path, dict]]) -> tuple[dict, dict]:
    """(`boards`, `variants`) of `records`, computed once."""
    return _split(records)


def boards(records: list[tuple[Path, dict]]) -> dict[tuple[str, str], list[Entry]]:
    """{(data set, protocol): its rows ranked best first}, boards in sorted order: one row per method (and
    detector and network) at its main config (`rows`). Other configs, and models fitted elsewhere scored
    again (method=pretrained: re-scorings and averages of committed checkpoints), are `variants`."""
    return _split(records)[0]


def variants(records: list[tuple[Path, dict]]) -> dict[tuple[str, str], list[Entry]]:
    """{(data set, protocol): the rows `boards` leaves out, ranked best first}: each config of a method
    other than its main one (named by how it differs), and every method=pretrained row."""
    return _split(records)[1]


def _split(records: list[tuple[Path, dict]]) -> tuple[dict, dict]:
    by_board = rows(records, lambda record: (record["dataset"], record["protocol"]))
    main, other = defaultdict(list), defaultdict(list)
    for key in sorted(by_board):
        for entry in sorted(by_board[key], key=_rank_key):
            (main if entry.on_board else other)[key].append(entry)
    return dict(main), dict(other)


def rows(records: list[tuple[Path, dict]], board) -> dict[tuple, list[Entry]]:
    """{`board(record)`: its entries, unranked}: one entry per row (`row_key`) and config without seeds
    (`without_seeds`). A row's main config (`main_config`) is the one its method is shown with; every
    other config's entry names how it differs from it (`variant`), or, where the row has no main config,
    from the one with the most seeds, then the most records, then the most recent."""
    groups: dict[tuple, list[tuple[Path, dict]]] = defaultdict(list)
    for path, record in records:
        groups[(board(record), row_key(record))].append((path, record))
    by_board: dict[tuple, list[Entry]] = defaultdict(list)
    for (board_key, _), members in groups.items():
        configs: dict[str, list[tuple[Path, dict]]] = defaultdict(list)
        for path, record in members:
            configs[without_seeds(record["config"])].append((path, record))
        latest_by_seed = {
            key: {seeds_of(r["config"]): r for _, r in sorted(runs, key=_recency)} for key, runs in configs.items()
        }
        main = main_config(configs)
        reference = main or max(
            configs, key=lambda k: (len(latest_by_seed[k]), len(configs[k]), max(map(_recency, configs[k])))
        )
        reference_config = max(configs[reference], key=_recency)[1]["config"]
        pretrained = members[0][1]["method"] == "pretrained"  # its model column says what it scored
        for key, runs in configs.items():
            path, record = max(runs, key=_recency)
            seeds = tuple(r for _, r in sorted(latest_by_seed[key].items(), key=lambda item: _seed_order(item[0])))
            variant = (
                ""
                if key == reference or pretrained
                else difference(record["config"], reference_config) or f"config {key[:8]}"
            )
            by_board[board_key].append(
                Entry(
                    record,
                    path,
                    len(runs),
                    seeds if len(seeds) > 1 else (),
                    variant,
                    on_board=key == main,
                    paths=tuple(p for p, _ in sorted(runs, key=_recency)),
                )
            )
    return by_board


def main_config(configs: dict[str, list[tuple[Path, dict]]]) -> str | None:
    """Which of one row's configs (`without_seeds` key -> its runs) its method is shown with on the board:
    the one conf/boards.yaml names for the board and method (a named experiment; null: none, the method is
    not on this board); else those with the method's and detector's defaults (the config the record's
    group choices compose to today, conf/ as it is; the data set's and protocol's settings are the
    board's); else, where no run has them (or for a data set conf/ does not name, a folder of one's own),
    all of them; among these, the one with the most seeds, then records, then the most recent. None for
    method=pretrained, which scores models fitted elsewhere: its every config is a variant."""
    record = next(iter(configs.values()))[0][1]
    if record["method"] == "pretrained":
        return None
    named = board_experiments().get(f"{record['dataset']}__{record['protocol']}", {})
    if record["method"] in named:
        wanted = named[record["method"]]
        candidates = [k for k, runs in configs.items() if wanted and any(r["experiment"] == wanted for _, r in runs)]
    else:
        default = _default_key(tuple(record.get(g) for g in CHOICES))
        candidates = (
            []
            if default is _UNKNOWN
            else [k for k, runs in configs.items() if _method_key(runs[0][1]["config"]) == default]
        )
        candidates = candidates or list(configs)
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda k: (
            len({seeds_of(r["config"]) for _, r in configs[k]}),
            len(configs[k]),
            max(map(_recency, configs[k])),
        ),
    )


def _method_key(config: dict) -> str:
    """`without_seeds` of a config's method and detector: what makes a method the same on one board."""
    return without_seeds({group: config.get(group) for group in ("method", "detector")})


#: the group choices of a record that compose its method's default config
CHOICES = ("dataset", "protocol", "method", "detector", "model")
_UNKNOWN = object()


@functools.cache
def board_experiments() -> dict:
    """conf/boards.yaml: {board: {method: the named experiment that makes its row}}."""
    from omegaconf import OmegaConf

    from core.io import CONF_DIR

    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "boards.yaml")) or {}


@functools.cache
def _default_key(choices: tuple) -> str | object:
    """`_method_key` of the config `choices` compose to today; _UNKNOWN when they do not compose (a data set
    of one's own, named by its folder)."""
    from omegaconf import OmegaConf

    from benchmark.config import compose_config
    from core.errors import FerbenchError

    overrides = [f"{group}={value}" for group, value in zip(CHOICES, choices) if value]
    try:
        return _method_key(OmegaConf.to_container(compose_config(overrides), resolve=True))
    except (FerbenchError, HydraException, OmegaConfBaseException):
        return _UNKNOWN


def seeds_of(config: dict) -> str:
    """Every seed of a config (each `seed` and `random_state`, at any depth), as one string: what
    `without_seeds` leaves out, so two records of one config with the same `seeds_of` are one run
    made twice."""
    found = {k: v for k, v in _flat(config).items() if k.rsplit(".", 1)[-1] in SEED_KEYS}
    return json.dumps(found, sort_keys=True, default=str)


def _seed_order(seeds: str):
    """A `seeds_of` string's sort key: its seeds in numeric order where they are numbers."""
    return [_number_first(v) for _, v in sorted(json.loads(seeds).items())]


def _number_first(seed):
    """A seed's sort key: numbers first, in numeric order (seed 2 before seed 10), then the rest as text."""
    return (0, seed, "") if isinstance(seed, int | float) else (1, 0, str(seed))


def seed_text(record: dict) -> str:
    """A record's seed as a reader knows it: the top-level `seed`."""
    return str(record["config"].get("seed"))


def _recency(member: tuple[Path, dict]):
    return member[1]["env"].get("time", ""), member[0].name


def without_seeds(config: dict) -> str:
    """A config's run key computed without its seeds (every `seed` and `random_state`): records whose
    configs differ only in their seeds share it (`seeds_of` gives those)."""
    from benchmark import records

    return records.run_key(_canonical(config))


def difference(config: dict, reference: dict) -> str:
    """How `config` differs from `reference` beyond seeds and what its run key leaves out
    (`benchmark.records.canonical`), as "name=value, ..." sorted by name: a setting's last name
    (method.epochs: epochs; the full dotted name where two changed settings share it), its value as
    JSON text (floats exact; an option left out at its neutral value shows that value, e.g. blur=0),
    "unset" where `config` lacks it or has null, e.g. "blur=0.3, epochs=70". "" when the two are alike
    as text (then they differ only in a value's type: 1 and "1")."""
    ours, theirs = _flat(_canonical(config)), _flat(_canonical(reference))
    changed = [
        k for k in ours.keys() | theirs.keys() if _text(ours.get(k)) != _text(theirs.get(k)) and not _idle(config, k)
    ]
    shown = {k: ours[k] if k in ours else _neutral(config, k) for k in changed}
    changed = [k for k in changed if _text(shown[k]) != _text(theirs.get(k, _neutral(reference, k)))]
    short = [k.rsplit(".", 1)[-1] for k in changed]
    names = {k: s if short.count(s) == 1 else k for k, s in zip(changed, short)}
    return ", ".join(f"{names[k]}={_text(shown[k])}" for k in sorted(changed, key=lambda k: (names[k], k)))


def _node(config: dict, key: str) -> dict | None:
    """The config node that holds the dotted `key`."""
    node = config
    for part in key.split(".")[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _idle(config: dict, key: str) -> bool:
    """Whether `key` changes nothing in `config`: a setting idle beside an option at its neutral value or
    absent (`benchmark.records.IDLE`: swa_lr without weight averaging)."""
    from benchmark import records

    node, leaf = _node(config, key), key.rsplit(".", 1)[-1]
    if node is None:
        return False
    other = records.IDLE.get(node.get("_target_"), {}).get(leaf)
    neutral = records.NEUTRAL.get(node.get("_target_"), {})
    return other is not None and (other not in node or node[other] == neutral.get(other))


def _neutral(config: dict, key: str):
    """The value a run key leaves out for the dotted `key` of `config` (its neutral value, or an idle
    setting's own value), None when the key is simply not there."""
    from benchmark import records

    node, leaf = _node(config, key), key.rsplit(".", 1)[-1]
    if node is None:
        return None
    if leaf in node:
        return node[leaf]
    return records.NEUTRAL.get(node.get("_target_"), {}).get(leaf)


def _text(value) -> str:
    if value is None:
        return "unset"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _flat(node, prefix: str = "") -> dict:
    if not isinstance(node, dict):
        return {prefix: node}
    out = {}
    for key, value in node.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def _canonical(config: dict) -> dict:
    """`config` as its run key sees it (`benchmark.records.canonical`: no volatile keys, no options at their
    neutral value), without its seeds."""
    from benchmark import records

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in SEED_KEYS}
        return [strip(v) for v in node] if isinstance(node, list) else node

    return strip(records.canonical(config))


def _rank_key(entry: Entry):
    return -entry.accuracy, -entry.macro_f1, entry.row_key, entry.variant


def size(record: dict) -> str:
    """Feature dimension (classical) or parameter count (deep) from the folds' fit details, or ''."""
    for key, unit in (("parameters", "params"), ("n_features", "features")):
        values = sorted({f["fit_details"][key] for f in record["folds"] if key in f.get("fit_details", {})})
        if values:
            span = f"{values[0]:,}" if len(values) == 1 else f"{values[0]:,}–{values[-1]:,}"
            return f"{span} {unit}"
    return ""


def macs(record: dict) -> str:
    """Forward multiply-adds per image (deep models, from the folds' fit details; an ensemble's are its members'
    sum) in millions, or '' (classical pipelines, whose cost is not counted in MACs)."""
    values = sorted(
        {f["fit_details"]["macs_per_image"] for f in record["folds"] if f.get("fit_details", {}).get("macs_per_image")}
    )
    if not values:
        return ""
    text = [f"{v / 1e6:,.1f} M" for v in (values[0], values[-1])]
    return text[0] if len(values) == 1 else f"{text[0]}–{text[1]}"


def history(record: dict, record_path: Path) -> list[dict[str, list[float]]]:
    """Training histories {metric: [value per epoch]}, one per fold (per member of an ensemble's
    fold); empty when the record has none."""
    curves = []
    for fold in record["folds"]:
        details = fold.get("fit_details", {})
        for member in details.get("members") or [details]:
            curves.append(_curve(member.get("history")))
    return [c for c in curves if c]


def _curve(raw) -> dict[str, list[float]]:
    if isinstance(raw, str):  # records before the history was embedded: the CSV in the run_dir
        path = Path(raw).with_suffix(".json")  # written beside it; relative to the command's folder
        raw = json.loads(path.read_text()) if path.is_file() else None
    return plots.per_epoch(raw)


def pooled_test(first: Entry, second: Entry) -> stats.TestResult | str:
    """Exact McNemar on two rows' test predictions pooled over folds (`stats.pooled_predictions`), for the
    runs `lead_test` would pair; or why no test was made."""
    return _paired(first, second, lambda a, b, test_set: stats.mcnemar(*stats.pooled_predictions(a, b, test_set)))


def lead_test(first: Entry, second: Entry) -> stats.TestResult | str:
    """Whether `first` beats `second`: McNemar on a single test split, a fold permutation test on CV folds
    (the corrected repeated cross-validation t-test where the folds were repeated: `protocol.repeats`).
    The rows' shown runs are compared, or where they were not tested alike (a row of several seeds
    shows its latest), their runs of the first top-level `seed` (in numeric order) both have (two
    methods name their inner seeds differently); the first pair tested alike is the one tested,
    whatever its result. Where a row has several seeds, the result's detail names the seed of the
    runs compared.

    Returns the test result, or why no test was made (the two were not tested on the same images).
    """

    def test(a: dict, b: dict, test_set: str) -> stats.TestResult:
        if first.holdout and second.holdout:
            return stats.mcnemar(*stats.paired_predictions(a, b, test_set))
        scores = stats.paired_fold_scores(a, b, test_set)
        if stats.repeats_of(a) > 1:  # repeated cross-validation: the corrected t-test over its r x k folds
            return stats.corrected_repeated_cv(*scores, stats.repeats_of(a), stats.test_to_train(a))
        return stats.paired_folds(*scores)

    return _paired(first, second, test)


def _paired(first: Entry, second: Entry, test) -> stats.TestResult | str:
    """`test(run_a, run_b, test_set)` of the two rows' shown runs, or of the first pair of their runs with
    the same top-level seed that was tested alike (see `lead_test`); or why no test was made."""
    test_set = first.record["test_set"]
    shared = sorted(
        ((a, b) for a in first.runs for b in second.runs if seed_text(a) == seed_text(b)),
        key=lambda pair: _number_first(pair[0]["config"].get("seed")),
    )
    reason = None
    for a, b in [(first.record, second.record), *shared]:
        try:
            result = test(a, b, test_set)
        except stats.NotPaired as exc:
            reason = reason or f"not tested: {exc}"
            continue
        if not (first.seeds or second.seeds):
            return result
        seeds = " and ".join(dict.fromkeys(f"seed-{seed_text(r)}" for r in (a, b)))
        return replace(result, detail=f"{result.detail}; between their {seeds} runs")
    return reason


def correct_count(record: dict, test_set: str) -> tuple[int, int]:
    """(correct, n) over all folds' predictions on `test_set`."""
    correct = n = 0
    for tests in record["predictions"].values():
        if test_set in tests:
            t = tests[test_set]
            correct += sum(a == b for a, b in zip(t["y_true"], t["y_pred"], strict=True))
            n += len(t["y_true"])
    return correct, n


def best_by_kind(entries: list[Entry]) -> dict[str, Entry]:
    """{"classical": best classical entry, "deep": best deep entry}, each present only if any."""
    best: dict[str, Entry] = {}
    for entry in entries:  # ranked best first
        best.setdefault(entry.kind, entry)
    return best
