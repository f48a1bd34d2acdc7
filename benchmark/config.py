"""The Hydra config: the words of a command line checked before Hydra sees them (`check_overrides`: a
typo is one line that names the closest valid words), composing it outside `ferbench run` (verify,
tests) with the same files, and building a group's object from it with errors that name the config
key the user typed."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from benchmark.cli import did_you_mean
from core.errors import ConfigError
from core.io import CONF_DIR, SHIPPED_ROOT


def shipped_model() -> str:
    """The shipped model's file (results/models/shipped.yaml names it), relative to the repository root
    (`core.io.SHIPPED_ROOT`: a wheel's copy is laid out the same), so a run key changes when the shipped
    model does and is the same from a checkout and from an installed wheel; a list for an average."""
    from benchmark.inference.models import shipped

    models = shipped()["model"]
    paths = models if isinstance(models, list) else [models]
    relative = [Path(m).relative_to(SHIPPED_ROOT).as_posix() for m in paths]
    return relative if isinstance(models, list) else relative[0]


def shipped_setting(key: str):
    """`${shipped:<key>}` in a config: a value of the shipped model's manifest (results/models/shipped.yaml):
    `model` (its file, `shipped_model`), `tta`, `logit_adjust.tau`, `logit_adjust.record` (the run record that
    counted its class frequencies, relative to the repository root); null where the manifest has none."""
    from benchmark.inference.models import SHIPPED, shipped

    if key == "model":
        return shipped_model()
    node = shipped()
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if key == "logit_adjust.record" and node is not None:
        return (SHIPPED.parent / str(node)).resolve().relative_to(SHIPPED_ROOT.resolve()).as_posix()
    return node


OmegaConf.register_new_resolver("shipped_model", shipped_model, replace=True)
OmegaConf.register_new_resolver("shipped", shipped_setting, replace=True)


def compose_config(overrides: list[str] = (), config_name: str = "config") -> DictConfig:
    """The config `ferbench run <overrides>` would run, without Hydra's output folders. Inside a running
    Hydra app (a run of the cross protocol composes its targets' configs), the app's own search path,
    which is conf/, is used."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name=config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(config_name=config_name, overrides=list(overrides))


#: Hydra names the config node whose target failed ("full_key: method.features") in its message
_FULL_KEY = re.compile(r"^full_key: (\S+)$", re.MULTILINE)


def instantiate_group(cfg: DictConfig, group: str):
    """`instantiate(cfg[group])`, with a config value's error (a ValueError or TypeError raised by
    the target) turned into a ConfigError that names its config path: the key the user set, which
    is the top-level one for a value interpolated from it (`seed=1.5` is `seed`, not `dataset.seed`),
    and for a key its target does not take (`+method.C=1`) the settings it does take."""
    try:
        return instantiate(cfg[group])
    except InstantiationException as exc:
        cause = exc.__cause__
        if not isinstance(cause, (ValueError, TypeError)):
            raise
        found = _FULL_KEY.search(str(exc))
        node = found[1] if found else group
        if isinstance(cause, ConfigError):
            error = cause.under(node)
            source = _interpolated_from(cfg, error.key) if error.key else None
            raise (ConfigError(error.text, source) if source else error) from exc
        extra = re.search(r"unexpected keyword argument '(\w+)'", str(cause))
        if extra:
            raise ConfigError(
                f"is not a setting of {_target_name(cfg, node)}; its settings: {', '.join(_settings(cfg, node))}",
                f"{node}.{extra[1]}",
            ) from exc
        raise ConfigError(f"{node}: {cause}") from exc


def _interpolated_from(cfg: DictConfig, key: str) -> str | None:
    """The key `key`'s value is interpolated from (`${seed}` -> "seed"), None when it is its own."""
    node = OmegaConf.to_container(cfg, resolve=False)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    found = re.fullmatch(r"\$\{([\w.]+)\}", node) if isinstance(node, str) else None
    return found[1] if found else None


def _target_name(cfg: DictConfig, node: str) -> str:
    return str(OmegaConf.select(cfg, f"{node}._target_", default=node))


def _settings(cfg: DictConfig, node: str) -> list[str]:
    """The parameters the target of config node `node` takes (its signature's names)."""
    import inspect

    from hydra.utils import get_object

    try:
        target = get_object(_target_name(cfg, node))
        params = inspect.signature(target).parameters.values()
    except (ImportError, ValueError, TypeError, AttributeError):
        return []
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]


# -- the words of a command line, checked before Hydra composes them ---------------------------------

_ABSENT = object()


def groups() -> dict[str, list[str]]:
    """{group: its options} of conf/ (a folder of YAML files is a group, e.g. "dataset", "sweep/arm")."""
    found = {}
    for folder in sorted(p for p in CONF_DIR.rglob("*") if p.is_dir() and p.relative_to(CONF_DIR).parts[0] != "hydra"):
        # a subfolder's files are options too, named by their path: model=timm/resnet18
        options = sorted(f.relative_to(folder).with_suffix("").as_posix() for f in folder.rglob("*.yaml"))
        if options:
            found[folder.relative_to(CONF_DIR).as_posix()] = options
    return found


def check_overrides(overrides: list[str]) -> list[str]:
    """The command line of a run (Hydra's overrides and flags), checked word by word before Hydra
    composes it, so that a wrong word is one line naming it and the closest valid words instead of
    Hydra's option list, a traceback, or a failure after the run: an unknown flag or flag value, a word
    that is not key=value, a key or group given twice, an unknown group option (`method=lbp_svn`) or
    launcher, an unknown key (`method.C=1`), a key added with + that is there already, a group the run
    has none of (`model=vgg` without a CNN), a boolean that is not true / false / 1 / 0 (`redo=no`), an
    empty value where the default is a path or name, a deletion another value needs (`~seed`).
    Returns the overrides with 1 / 0 of a boolean key written true / false (one spelling, one run key).
    Raises ConfigError (or `core.extras.ExtraMissing` for hydra/launcher=ray or ray_cluster without the `ray` extra)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType, ValueType
    from hydra.errors import OverrideParseException

    _check_flags(overrides)
    words = hydra_words(overrides)[1]
    parser, parsed = OverridesParser.create(), []
    for word in words:
        if "=" not in word and not word.startswith("~"):
            raise ConfigError(f"'{word}' is not key=value: write {word}=<value> (ferbench run --help lists them)")
        if word.lstrip("+~").startswith("="):
            raise ConfigError(f"'{word}' has no key: write key=value")
        try:
            parsed += parser.parse_overrides([word])
        except OverrideParseException as exc:
            reason = str(exc).strip().splitlines()[0].removeprefix(f"Error parsing override '{word}'").strip()
            raise ConfigError(
                f"'{word}' is not a key=value Hydra reads{f' ({reason})' if reason else ''}; a value "
                "holding = , or spaces goes in quotes: key='a=b'"
            ) from None
    seen = {}
    for override in parsed:
        name = override.key_or_group + (f"@{override.package}" if override.package else "")
        if name in seen:
            raise ConfigError(f"{name} is given twice ({seen[name]} and {override.input_line}): keep one")
        seen[name] = override.input_line
    known = groups()
    chosen, keys = [], []
    for override in parsed:
        name = override.key_or_group
        if override.is_hydra_override():
            ray = [v for v in _values(override) if v in ("ray", "ray_cluster")]  # ray_cluster extends ray
            if name == "hydra/launcher" and ray:
                from core.extras import require

                require("ray", f"hydra/launcher={ray[0]}")
            continue
        if name in known:
            if override.type != OverrideType.DEL and override.value_type != ValueType.GLOB_CHOICE_SWEEP:
                for value in _values(override):
                    if value not in known[name]:
                        family = str(value).split("/")[0] if name == "model" and "/" in str(value) else None
                        raise ConfigError(
                            f"{override.input_line}: {name} has no option '{value}'"
                            f"{did_you_mean(str(value), known[name])} ({name}: {', '.join(known[name])})"
                            + (f"; any {family} architecture: model={family} model.name={value}" if family else "")
                        )
            chosen.append(override)
        elif "/" in name or "@" in override.input_line.split("=", 1)[0]:
            top = name.split("/")[0]
            shown = [g for g in known if g == top or "/" not in g]
            raise ConfigError(
                f"{override.input_line}: no config group '{name}'{did_you_mean(name, list(known))} "
                f"(groups: {', '.join(shown)})"
            )
        else:
            keys.append(override)
    cfg = _trial([_first(o) for o in chosen])
    rewritten = {}
    for override in keys:
        key = override.key_or_group
        here = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=False)
        if override.type == OverrideType.ADD and here is not _ABSENT:
            raise ConfigError(f"+{key} adds a key, and {key} is there already: write {override.input_line[1:]}")
        if override.type in (OverrideType.CHANGE, OverrideType.DEL) and here is _ABSENT:
            raise _no_such_key(key, cfg, override.input_line)
        if override.type != OverrideType.CHANGE or override.value_type in (
            ValueType.INTERVAL_SWEEP,
            ValueType.GLOB_CHOICE_SWEEP,
        ):
            continue
        values = [_typed(key, here, value) for value in _values(override)]
        if values != _values(override):
            rewritten[override.input_line] = f"{key}={','.join(_text(v) for v in values)}"
    checked = [rewritten.get(w, w) for w in overrides]
    whole = any(o.type != OverrideType.CHANGE for o in keys) or any(o.is_hydra_override() for o in parsed)
    if whole:  # the whole line composed: a deletion another value needs, an addition, a launcher
        _trial(
            [_first(o) for o in parser.parse_overrides(hydra_words(checked)[1])],
            hydra=any(o.is_hydra_override() for o in parsed),
        )
    return checked


def _trial(overrides: list[str], hydra: bool = False) -> DictConfig:
    """The config `overrides` compose to, resolved (with Hydra's own nodes when `hydra`: its launcher), or the
    first line of why it does not compose, as a ConfigError that says what to do where it can."""
    try:
        if hydra and GlobalHydra.instance().is_initialized():
            cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
        elif hydra:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
                cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
        else:
            cfg = compose_config(overrides)
        if hydra:
            cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        OmegaConf.to_container(cfg, resolve=True)
        return cfg
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise _composition_error(exc) from None


def _composition_error(exc: Exception) -> ConfigError:
    text = str(exc).strip()
    missing_group = re.search(r"Could not override '([\w/]+)'\. No match in the defaults list", text)
    if missing_group:
        group = missing_group[1]
        users = _chosen_by(group)
        return ConfigError(
            f"{group}: this run has none to change"
            + (f"; it comes with {' or '.join(users)}" if users else f"; +{group}=<option> adds one")
        )
    missing_option = re.search(r"Could not find '([\w/]+)/(\w+)'.*?Available options in '[\w/]+':\s*(.*)", text, re.S)
    if missing_option:
        group, value = missing_option[1], missing_option[2]
        options = [o.strip() for o in missing_option[3].split("\n") if o.strip() and " " not in o.strip()]
        return ConfigError(
            f"{group}={value}: {group} has no option '{value}'{did_you_mean(value, options)} "
            f"({group}: {', '.join(options)})"
        )
    missing_key = re.search(r"Interpolation key '([\w.]+)' not found", text)
    if missing_key:
        where = getattr(exc, "full_key", None)
        return ConfigError(f"{missing_key[1]} is needed{f' by {where}' if where else ''}: it cannot be removed")
    return ConfigError(text.splitlines()[0])


def _chosen_by(group: str) -> list[str]:
    """The options (`method=cnn`) whose config files bring `group` in their defaults list."""
    found = []
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if re.search(rf"^\s*-\s*/{re.escape(group)}@", text, re.M):
            relative = path.relative_to(CONF_DIR).with_suffix("")
            if len(relative.parts) == 2:
                found.append(f"{relative.parts[0]}={relative.parts[1]}")
    return found


#: Hydra's own flags (`ferbench run` passes them on), besides --help
HYDRA_FLAGS = frozenset(
    {
        "--hydra-help",
        "--version",
        "--cfg",
        "-c",
        "--resolve",
        "--package",
        "-p",
        "--run",
        "-r",
        "--multirun",
        "-m",
        "--shell-completion",
        "-sc",
        "--config-path",
        "-cp",
        "--config-name",
        "-cn",
        "--config-dir",
        "-cd",
        "--experimental-rerun",
        "--info",
        "-i",
    }
)


def _check_flags(argv: list[str]) -> None:
    """Refuse an unknown flag (naming the key=value it may have meant: `--model x` is model=x), a bad
    `--cfg` value, and `--cfg` with `-m` (Hydra prints one run's config)."""
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):
            continue
        flag, _, given = word.partition("=")
        if flag not in HYDRA_FLAGS:
            name = flag.lstrip("-").replace("-", "_")
            if name in groups() or name in OmegaConf.load(CONF_DIR / "config.yaml") or "." in name:
                value = given or next(words, "<value>")
                raise ConfigError(f"'{word}' is not how a run is given its settings: write {name}={value}")
            close = did_you_mean(flag, sorted(HYDRA_FLAGS)).removeprefix("; ")
            raise ConfigError(
                f"unknown flag '{flag}'{f' ({close})' if close else ''}: a run's settings are key=value "
                "(ferbench run --help)"
            )
        value = given or (next(words, None) if flag in HYDRA_VALUE_FLAGS else None)
        if flag in ("--cfg", "-c") and value not in ("job", "hydra", "all"):
            raise ConfigError(f"{flag} takes job, hydra or all, got {value!r}")
    if {"--cfg", "-c"} & set(argv) and {"-m", "--multirun"} & set(argv):
        raise ConfigError("--cfg prints the config of one run and -m runs a sweep: give one of them")


#: Hydra's flags that take a value (`--cfg job`); `--info` takes one when it is one of INFO
HYDRA_VALUE_FLAGS = frozenset(
    {
        "--cfg",
        "-c",
        "--package",
        "-p",
        "--config-path",
        "-cp",
        "--config-name",
        "-cn",
        "--config-dir",
        "-cd",
        "--experimental-rerun",
    }
)
INFO = frozenset({"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"})


def hydra_words(argv: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra's flags with their values, the overrides) of a `ferbench run` command line."""
    flags, overrides, words = [], [], iter(argv)
    for word in words:
        if word.startswith("-"):
            flags.append(word)
            if word in HYDRA_VALUE_FLAGS or (word == "--info"):
                value = next(words, None)
                if value is not None and (word != "--info" or value in INFO):
                    flags.append(value)
                elif value is not None:
                    overrides.append(value)
        else:
            overrides.append(word)
    return flags, overrides


def _values(override) -> list:
    return list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]


def _first(override) -> str:
    """A group override with one value (a sweep's first), for composing the config its keys live in."""
    if not override.is_sweep_override():
        return override.input_line
    prefix = override.input_line.split("=", 1)[0]
    return f"{prefix}={_values(override)[0]}"


def _paths(node, prefix: str = "") -> list[str]:
    """Every dotted key path of a config node (unresolved: interpolations are not evaluated)."""
    container = OmegaConf.to_container(node, resolve=False) if not isinstance(node, dict) else node
    paths = []
    for key, value in container.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, dict):
            paths += _paths(value, path + ".")
    return paths


def _no_such_key(key: str, cfg: DictConfig, typed: str) -> ConfigError:
    """The error of a key the config does not have: the keys of the same name deeper in it (method.C:
    method.classifier.estimator.steps.svm.C), else the closest ones, else what its parent holds."""
    paths = [p for p in _paths(cfg) if not p.split(".")[-1].startswith("_")]
    parent, _, leaf = key.rpartition(".")
    same_leaf = [p for p in paths if p.split(".")[-1].lower() == leaf.lower() and p.startswith(parent)]
    close = same_leaf[:3] or difflib.get_close_matches(key, paths, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not close and isinstance(node, DictConfig):
        hint = f"; {parent or 'the config'} has {', '.join(k for k in node if not str(k).startswith('_'))}"
    return ConfigError(f"{typed}: no key {key} in this config{hint}")


#: keys whose value is a boolean or a path (false: random weights; true: downloaded ones; PATH: a local file)
BOOL_OR_PATH = frozenset({"model.pretrained"})


def _typed(key: str, here, value):
    """`value` for a key whose value is `here` now: a boolean stays one (1 / 0 become true / false),
    an integer an integer, a number a number; other values (strings, lists, null) are the target's
    to check, as is a path given to a key of `BOOL_OR_PATH`."""
    if key in BOOL_OR_PATH and isinstance(value, str) and value:
        return value
    if value == "" and isinstance(here, str) and here:
        raise ConfigError(f"is empty; its default is {here!r} (a path or a name: give one)", key)
    if value is None or here is None or isinstance(here, (str, list, dict, DictConfig)) or OmegaConf.is_config(here):
        return value
    if isinstance(here, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"must be true or false (or 1 / 0), got {value!r}", key)
    if isinstance(here, int) and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"must be an integer, got {value!r}", key)
    if isinstance(here, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"must be a number, got {value!r}", key)
    return value


def _text(value) -> str:
    return "true" if value is True else "false" if value is False else "null" if value is None else str(value)
