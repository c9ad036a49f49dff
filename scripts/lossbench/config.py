"""From config/config.yaml to one frozen ``TrainConfig`` per run (no torch import here).

``resolve(config, losses, command_line)`` is the one way in, used by the workflow (common.smk)
and the tests alike; every step reads the schema (workflow/schemas/config.schema.yaml), the one
place where each setting's type, range and default is written:

1. ``normalize``: values given with ``snakemake --config`` are read as the config file reads them
   (YAML: ``null``, ``yes``/``no``, ``true``/``false``, numbers), and wherever the schema expects a
   number, a number literal YAML 1.1 leaves as text (``lr: 1e-3``) is that number; a single item
   where the schema expects a list (``--config seeds=3``) is a list of one.
2. ``validate``: the schema, with its defaults filled in (a block's only when it is on). Its
   integers are ints (JSON schema's "integer" accepts 1.0), its numbers finite, its patterns whole
   strings.
3. ``check``, ``check_horizon``, ``check_lr_study``, ``check_classes_study``, ``check_optimizer_study``: what a
   schema cannot see (registered losses, one name per variant, a batch that fits the split, a study block naming
   what the sweep defines, a class subset that holds the study's images).

Every error is one ``ConfigError`` line naming the key, what was expected and what was found.
Nothing here runs a job; the workflow stops with that line before Snakemake builds any.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import LossbenchError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

# not part of the experiment's config hash
# (test_every: how often a run is tested, not what it trains: the weights are the same)
RUNTIME_FIELDS = ("seed", "device", "threads", "cuda_graph", "deterministic", "test_every")

# settings added after runs were recorded: left out of the config hash at these values, so a run made
# before the setting existed (which trained with that value) keeps its hash
HASH_DEFAULTS = {"classes": 10, "optimizer": "sgd"}

# the optimisers a run can train with (lossbench.train.make_optimizer): see TrainConfig.optimizer
OPTIMIZERS = ("sgd", "adam", "nsgd")

# a number as YAML 1.2 / JSON / Python write it (YAML 1.1, PyYAML's, reads 1e-3 as a string)
NUMBER_LITERAL = re.compile(r"[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?(\.?inf|\.?nan)", re.IGNORECASE)

# The files of every run folder (lossbench.runfolder writes them; the workflow's training rules
# list them as outputs). Here, not in runfolder (which imports torch): reading the workflow must not.
RUN_FILES = ("metrics.json", "history.csv", "model.pt", "predictions.csv")

# What makes a study point the same run as a sweep's (then it is read from the sweep, not retrained)
SAME_RUN_KEYS = ("loss", "lr", "dataset", "train_size", "val_size", "hidden", "batch_size", "epochs", "classes",
                 "optimizer")


class ConfigError(LossbenchError):
    """An inconsistent config; the message (one line) names the key, what was expected and what was found."""


@dataclass(frozen=True)
class TrainConfig:
    variant: str
    loss: str
    seed: int
    dataset: str = "mnist"
    train_size: int = 10_000
    val_size: int = 2_000
    hidden: tuple[int, ...] = (1200, 600, 300)
    lr: float = 0.1
    batch_size: int = 100
    epochs: int = 5
    device: str = "auto"
    threads: int = 1
    cuda_graph: bool = True  # on CUDA: replay each step as one captured graph (same math, less launch overhead)
    deterministic: bool = False  # on CUDA: deterministic kernels only (slower); CPU runs are deterministic anyway
    test_every: int = 1  # test accuracy every k-th epoch and the last (NaN between); validation every epoch
    # the dataset's first C classes (labels 0..C-1): train, validation and test images of those labels only,
    # the MLP with C outputs (lossbench.train.make_split)
    classes: int = 10
    # "sgd": p <- p - lr g; "adam": Adam (betas 0.9/0.999, eps 1e-8, no weight decay); "nsgd": normalised
    # SGD, p <- p - lr g / ||g||, ||g|| over all the run's parameters (lossbench.train.make_optimizer)
    optimizer: str = "sgd"

    def config_hash(self) -> str:
        """Hash of the experiment settings (not seed or runtime): equal for all seeds of a variant. A setting
        of ``HASH_DEFAULTS`` at its value there is left out (a run from before it existed keeps its hash)."""
        settings = {k: v for k, v in asdict(self).items()
                    if k not in RUNTIME_FIELDS and not (k in HASH_DEFAULTS and v == HASH_DEFAULTS[k])}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def config_from_flags(flags: Mapping, **override) -> TrainConfig:
    """The frozen config from parsed ``lossbench train`` flags (one flag per field), plus overrides."""
    values = {f.name: flags[f.name] for f in fields(TrainConfig) if f.name in flags} | override
    values["hidden"] = tuple(values["hidden"])
    return TrainConfig(**values)


def check_duplicate_keys(path: str):
    """The config file's values, read; YAML keeps the last of two equal keys silently: refuse that (e.g. a
    variant named twice).

    A merge key (``<<: *defaults``) is no duplicate: the keys written beside it override the
    merged ones on purpose; only keys written twice in the same mapping are refused.
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                key = repr(key)  # a list or mapping as a key: compare it by how it is written
            if key in seen:
                raise ConfigError(f"{path}, line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    with open(path) as fh:
        return yaml.load(fh, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def check_empty_mappings(config: Mapping, sources: Iterable[tuple[str, Mapping | None]]) -> None:
    """Snakemake merges each config source given on the command line (``--configfile``, ``--config``) into the
    workflow's config file key by key, so an empty mapping there cannot empty a value: ``lr_study={lrs: {}}``
    over the file's list keeps the list and runs what was not asked for. Refuse it, naming the source and the
    key. ``config``: the merged config; ``sources``: (name, its values as written) of each command-line source.
    """
    def walk(given, merged, path, source):
        for key, value in given.items():
            if not isinstance(value, Mapping) or not isinstance(merged, Mapping) or key not in merged:
                continue
            where = path + _key_text(key) if path else str(key)
            if not value and merged[key] not in ({}, None):
                raise ConfigError(f"{where}: an empty mapping ({{}}) in {source} cannot empty it: Snakemake merges a "
                                  f"mapping key by key into the config file's, so the value stays "
                                  f"{_short(merged[key])}; write the value you mean (null turns a block off)")
            walk(value, merged[key], where, source)

    for source, given in sources:
        if isinstance(given, Mapping):
            walk(given, config, "", source)


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the schema: every setting's type, range and default, once ------------------------------------

@functools.cache
def _schema() -> dict:
    import yaml

    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def _keys(node: Mapping) -> Mapping:
    """A node's own keys and, for a block that is checked only when on (``if: {type: object}``), its ``then``."""
    return {**node, **node.get("then", {})}


def defaults(block: str | None = None) -> dict:
    """The schema's defaults: of every top-level setting, or of the keys of ``block`` (``horizon``, ``lr_study``)."""
    properties = _schema()["properties"]
    if block is not None:
        properties = _keys(properties[block])["properties"]
    return {key: copy.deepcopy(node["default"]) for key, node in properties.items() if "default" in node}


@dataclass(frozen=True)
class Sweep:
    """A resolved config: the config itself (normalised, defaults filled in), each variant's
    training settings by name, and the study blocks with their defaults (None when off)."""

    config: dict
    variants: dict
    horizon: dict | None
    lr_study: dict | None
    probe: dict | None = None  # the same-network gradient probe (probe:), check_probe
    classes_study: dict | None = None
    optimizer_study: dict | None = None


def resolve(config: dict, known_losses: Iterable[str], command_line: Mapping | None = None) -> Sweep:
    """Normalise ``config`` in place (``command_line``: Snakemake's parsed ``--config`` entries),
    validate it against the schema (filling in its defaults, in place) and check it; raise one-line
    ConfigErrors."""
    normalize(config, command_line)
    validate(config)
    load_user_losses(config)
    known = list(known_losses)  # after the user's loss files joined the registry (known_losses: the registry)
    variants = check(config, known)
    return Sweep(config, variants, check_horizon(config, variants), check_lr_study(config, known),
                 probe=check_probe(config, known), classes_study=check_classes_study(config, known),
                 optimizer_study=check_optimizer_study(config, known))


def load_user_losses(config: dict) -> None:
    """``loss_files``: made absolute (from the working directory, once, as the workflow reads them) and
    imported, so their losses join the registry before the config's names are checked. A file that does
    not exist, does not import, registers nothing or a taken name: one ConfigError naming it."""
    from .losses import load_loss_files

    config["loss_files"] = [str(path) for path in load_loss_files(config.get("loss_files") or [], key="loss_files")]


# --- 1. values as the user meant them ----------------------------------------------------------------

def normalize(config: dict, command_line: Mapping | None = None) -> None:
    """Read values as the user meant them, in place, before the schema sees them.

    ``command_line`` (Snakemake's parsed ``--config`` entries: it hands over text where the file's
    YAML gives values, ``test_every=null`` as 'null', ``pack_seeds=yes`` as 'yes', the items of
    ``seeds=[0,1]`` as '0', '1') is read as the config file reads the same text. Then, for every
    setting: a number literal left as text where the schema expects a number becomes that number
    (``lr: 1e-3``), and a single item where it expects a list becomes a list of one (``seeds=3``).
    Anything else is left for the schema to refuse.
    """
    if command_line:
        _read_as_yaml(config, command_line)
    _read_as_schema(config, _schema())


def _read_as_yaml(config: dict, given: Mapping) -> None:
    """The values of ``given`` (merged into ``config`` by Snakemake) read as YAML reads them in a file."""
    for key, value in given.items():
        if key not in config:
            continue
        if isinstance(value, Mapping) and isinstance(config[key], dict):
            _read_as_yaml(config[key], value)
        else:
            config[key] = _yaml_value(config[key])


def _yaml_value(value):
    if isinstance(value, str):
        return _yaml_scalar(value)
    if isinstance(value, list):
        return [_yaml_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _yaml_value(v) for k, v in value.items()}
    return value


def _yaml_scalar(text: str):
    """``text`` as a plain scalar in the config file reads (PyYAML, YAML 1.1): null, ~, yes, no, true, 3, 0.5, ...;
    text it reads as a string stays as it is."""
    import yaml

    loader = yaml.SafeLoader("")
    try:
        tag = loader.resolve(yaml.ScalarNode, text, (True, False))
        return loader.construct_object(yaml.ScalarNode(tag, text))
    except yaml.YAMLError:
        return text
    finally:
        loader.dispose()


def _read_as_schema(value, node: Mapping):
    """``value`` with number literals read as numbers and single items as lists where ``node`` expects them."""
    node = _keys(node)
    types = _types(node)
    if isinstance(value, str) and "number" in types:
        return _number(value)
    if "array" in types and isinstance(node.get("items"), Mapping):
        items = node["items"]
        if isinstance(value, list):
            return [_read_as_schema(v, items) for v in value]
        if value is not None and not isinstance(value, (dict, bool)) and set(_types(items)) & {
                "integer", "number", "string"}:
            return [_read_as_schema(value, items)]
    if isinstance(value, dict):
        properties, other = node.get("properties", {}), node.get("additionalProperties")
        for key in value:
            sub = properties.get(key, other if isinstance(other, Mapping) else None)
            if sub is not None:
                value[key] = _read_as_schema(value[key], sub)
    return value


def _types(node: Mapping) -> list[str]:
    kind = node.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def _number(value):
    """A number literal left as text (YAML 1.1 reads 1e-3 as a string) as the float it writes."""
    if isinstance(value, str) and NUMBER_LITERAL.fullmatch(value.strip()):
        return float(value.strip().replace("_", "").lower().replace(".inf", "inf").replace(".nan", "nan"))
    return value


# --- 2. the schema --------------------------------------------------------------------------------

def validate(config: dict) -> None:
    """Check ``config`` against the schema and fill in its defaults, in place (a block's keys only when
    the block is on); raise the first error as one ConfigError line.

    Stricter than JSON schema where a run needs it: an "integer" is an int (not 1.0, not true), a
    "number" finite, and a "pattern" matches the whole text ('cuda\\n' is no device)."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(config))
    if error is not None:
        raise ConfigError(_schema_error(error))


@functools.cache
def _validator():
    """The schema's validator: JSON schema 2020-12 that fills in defaults, with the stricter types and patterns."""
    from jsonschema import Draft202012Validator, ValidationError, validators

    base = Draft202012Validator
    properties = base.VALIDATORS["properties"]

    def fill_defaults(validator, props, instance, schema):
        if isinstance(instance, dict):
            for key, sub in props.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from properties(validator, props, instance, schema)

    def whole_pattern(validator, pattern, instance, schema):
        if isinstance(instance, str) and not re.fullmatch(pattern, instance):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")

    checker = base.TYPE_CHECKER.redefine_many({
        "integer": lambda _, v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda _, v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    })
    strict = validators.extend(base, {"properties": fill_defaults, "pattern": whole_pattern}, type_checker=checker)
    return strict(_schema())


def _where(path) -> str:
    """A key's path as the config writes it: horizon.seeds[1], variants.fast.lr."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _kind(value) -> str:
    """How a value reads in a message: as written, and its type."""
    return f"{value!r} ({type(value).__name__})"


TYPE_WORDS = {"integer": "an integer", "number": "a finite number", "string": "a string", "boolean": "true or false",
              "array": "a list", "object": "a mapping"}


def _expected(node: Mapping, noun: str | None = None) -> str:
    """What a schema node takes, in words: 'an integer >= 1 or null', 'an integer from 0 to 9', 'one of a, b',
    'a non-empty list of distinct items, each a finite number > 0'."""
    node = _keys(node)
    if "enum" in node:  # as YAML writes them (true, not True)
        return "one of " + ", ".join(v if isinstance(v, str) else json.dumps(v) for v in node["enum"])
    types = _types(node)
    words = noun or " or ".join(TYPE_WORDS.get(t, t) for t in types if t != "null") or "a string"
    low = [(k, node[k]) for k in ("minimum", "exclusiveMinimum") if k in node]
    high = [(k, node[k]) for k in ("maximum", "exclusiveMaximum") if k in node]
    if low and high and (low[0][0], high[0][0]) == ("minimum", "maximum"):
        words += f" from {low[0][1]} to {high[0][1]}"
    elif low and high and (low[0][0], high[0][0]) == ("exclusiveMinimum", "exclusiveMaximum"):
        words += f" between {low[0][1]} and {high[0][1]} (exclusive)"
    else:
        ops = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        words += "".join(f" {'and ' if i else ''}{ops[k]} {v}" for i, (k, v) in enumerate(low + high))
    if "pattern" in node:
        words += f" matching {node['pattern']}"
    if "maxLength" in node:
        words += f" of at most {node['maxLength']} characters"
    if "array" in types:
        if node.get("minItems") == 1:
            words = words.replace("a list", "a non-empty list", 1)
        if isinstance(node.get("items"), Mapping):
            distinct = "distinct " if node.get("uniqueItems") else ""
            words = words.replace("list", f"list of {distinct}items, each {_expected(node['items'])},", 1).rstrip(",")
    if "array" in types and "object" in types:  # lr_study.lrs: one list, or a list per name
        words = words.replace(" or a mapping", " or a mapping of names to such lists", 1)
    if "null" in types:
        words += " or null"
    return words


def _schema_error(error) -> str:
    """One line for a schema error: the key, what was expected, what was found."""
    path, found, rule, value = list(error.absolute_path), error.instance, error.validator, error.validator_value
    where = _where(path)
    if "propertyNames" in error.relative_schema_path:  # a name under variants:
        return (f"{where}[{found!r}]: expected {_expected(error.schema, 'a name')} (it becomes a folder name), "
                f"found {found!r}" + (f" ({len(found)} characters)" if isinstance(found, str) else ""))
    if rule == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        unknown = sorted(set(found) - set(known))[0]
        return f"{_where([*path, unknown])}: unknown key; expected one of {', '.join(known)}"
    if rule == "required":
        missing = next(key for key in value if key not in found)
        node = error.schema["properties"][missing]
        about = f" ({node['description']})" if len(node.get("description", "")) <= 60 else ""
        return f"{_where([*path, missing])}: missing; expected {_expected(node)}{about}"
    if rule == "uniqueItems":
        i, j = next((i, j) for j in range(len(found)) for i in range(j) if found[i] == found[j])
        return f"{where}[{j}]: {found[j]!r} is listed twice (also {where}[{i}]); expected each item once"
    hint = ""
    if rule == "type" and isinstance(found, float) and found.is_integer() and "integer" in _types(error.schema):
        hint = f"; write {int(found)}"
    return f"{where}: expected {_expected(error.schema)}, found {_kind(found)}{hint}"


# --- 3. what the schema cannot see ------------------------------------------------------------------

def resolve_variants(config: dict) -> dict[str, dict]:
    """Variant name -> its training settings (every TrainConfig field but seed and threads).

    Each name under ``losses`` is a variant of itself with the shared settings; each entry
    under ``variants`` is a loss plus overrides. A setting ``config`` lacks is the schema's default.
    """
    config = {**defaults(), **config}
    shared = shared_settings(config)
    resolved = {name: {**shared, "variant": name, "loss": name} for name in config["losses"]}
    for name, spec in (config["variants"] or {}).items():
        if name in resolved:
            raise ConfigError(f"variants.{name}: expected a name not listed under losses, found {name!r} in both "
                              "(one folder per variant)")
        resolved[name] = {**shared, **spec, "variant": name}
    for settings in resolved.values():  # test_every null (the default): the test set at the last epoch only
        if settings.get("test_every") is None:
            settings["test_every"] = settings["epochs"]
    return resolved


def check(config: dict, known_losses: Iterable[str]) -> dict[str, dict]:
    """What the schema cannot see in the sweep (``config`` validated); return the variants by name."""
    from .data import DATASETS

    if config["dataset"] not in DATASETS:
        raise ConfigError(f"dataset: expected one of {', '.join(DATASETS)}, found {config['dataset']!r}")
    known = set(known_losses)
    registered = ", ".join(sorted(known))
    for i, name in enumerate(config["losses"]):
        if name not in known:
            raise ConfigError(f"losses[{i}]: expected a registered loss ({registered}), found {name!r}")
    variants = resolve_variants(config)
    if not variants:
        raise ConfigError("losses: expected at least one loss (or a variant under variants), found none")
    for name, settings in variants.items():
        if settings["loss"] not in known:
            raise ConfigError(f"variants.{name}.loss: expected a registered loss ({registered}), "
                              f"found {settings['loss']!r}")
        if settings["batch_size"] > settings["train_size"]:
            where = "batch_size" if name in config["losses"] else f"variants.{name}.batch_size"
            raise ConfigError(f"{where}: expected at most train_size ({settings['train_size']}), "
                              f"found {settings['batch_size']}")
    spec = DATASETS[config["dataset"]]
    train_size, val_size = config["train_size"], config["val_size"]
    if train_size + val_size > spec.n_train:
        raise ConfigError(
            f"train_size + val_size: expected at most {spec.title}'s {spec.n_train:,} training images (both are "
            f"drawn from them, disjoint), found {train_size} + {val_size} = {train_size + val_size} images"
        )
    if config["reference"] not in variants:
        raise ConfigError(f"reference: expected a variant of this sweep ({', '.join(variants)}), "
                          f"found {config['reference']!r}; set reference to one of them")
    if config["slow_loss"] not in known:
        raise ConfigError(f"slow_loss: expected a registered loss ({registered}), found {config['slow_loss']!r}")
    return variants


def _names_defined(block: str, key: str, names: list, defined: Iterable[str], what: str) -> None:
    """``block.key`` names only what ``defined`` holds (a sweep narrowed under ``losses:`` may no longer
    define what a study block names); else one error that says how to mend it."""
    defined = list(defined)
    missing = [name for name in names if name not in defined]
    if not missing:
        return
    where = f"{block}.{key}" + (f"[{names.index(missing[0])}]" if len(missing) == 1 else "")
    if len(missing) == len(names):
        mend = f"name one of {', '.join(defined)} in {block}.{key} instead"
    else:
        mend = f"drop {'it' if len(missing) == 1 else 'them'} from {block}.{key}"
    raise ConfigError(f"{where}: expected {what} ({', '.join(defined)}), found {', '.join(map(str, missing))}; "
                      f"{mend}, or set {block}: null (off)")


def check_horizon(config: dict, variants: Mapping[str, dict]) -> dict | None:
    """The long-horizon block (``horizon:``, ``config`` validated) with its defaults, or None when it is off.

    It names variants defined by ``losses``/``variants`` (``variants``, the result of ``check``);
    each is trained for ``epochs`` over ``seeds``, tested every ``test_every``-th epoch;
    ``plateau_window`` and ``plateau_gain`` are the page's plateau criterion.
    """
    block = config.get("horizon")
    if block is None:
        return None
    _names_defined("horizon", "variants", block["variants"], variants, "variants of this sweep")
    if block["plateau_window"] > block["epochs"]:
        raise ConfigError(f"horizon.plateau_window: expected at most horizon.epochs ({block['epochs']}: the "
                          f"window must fit in the budget), found {block['plateau_window']}")
    return dict(block)


def horizon_run_settings(variant: Mapping, horizon: Mapping) -> dict:
    """A variant's settings for its long-horizon runs: the horizon's epoch budget and eval interval."""
    return {**variant, "epochs": horizon["epochs"], "test_every": horizon["test_every"]}


def lr_text(lr: float) -> str:
    """An lr as it reads in a folder or variant name: the shortest text that reads back as the same
    number (0.03, 1, 30, 1e-05, 1e06; 0.03162277660168379 when only that does), without '+' (a
    name is letters, digits, '_', '.' and '-')."""
    text = format(lr, "g")
    return (text if float(text) == lr else repr(float(lr))).replace("e+", "e")


def lr_study_variant(loss: str, lr: float) -> str:
    """The variant name a study run records (metrics.json, tables): cross_entropy at 0.03 -> cross_entropy_lr0.03."""
    return f"{loss}_lr{lr_text(lr)}"


def check_lr_study(config: dict, known_losses: Iterable[str]) -> dict | None:
    """The learning-rate study block (``lr_study:``, ``config`` validated) with its defaults, or None when off.

    Each of ``losses`` (registered losses, a user's own included) is trained at every lr of its grid
    (``lr_study_lrs``: ``lrs``, one list for every loss, or a mapping that gives each loss its own; a grid
    for a registered loss not in ``losses`` is not trained) over ``seeds``, for ``epochs`` (null: the sweep's),
    with the sweep's other settings;
    ``reference`` (one of the losses) is what the others are compared with and scaled by, and
    ``threshold`` the validation accuracy after epoch 1 that defines each loss's threshold lr.
    """
    return _study_block(config, "lr_study", known_losses)


def _study_block(config: dict, name: str, known_losses: Iterable[str]) -> dict | None:
    """A study block (``config[name]``, validated) with what every study checks, or None when it is off: its
    ``losses`` registered, its ``reference`` (if it has one) one of them, its ``lrs`` floats, ``epochs``
    null read as the sweep's."""
    block = config.get(name)
    if block is None:
        return None
    _names_defined(name, "losses", block["losses"], sorted(known_losses), "registered losses")
    if "reference" in block and block["reference"] not in block["losses"]:
        raise ConfigError(f"{name}.reference: expected one of {name}.losses ({', '.join(block['losses'])}), "
                          f"found {block['reference']!r}; set {name}.reference to one of them, or set "
                          f"{name}: null (off)")
    lrs = block["lrs"]
    if isinstance(lrs, Mapping):  # a grid per loss; one for a registered loss not in losses is not trained
        known = sorted(known_losses)
        unknown = [loss for loss in lrs if loss not in known]
        if unknown:
            raise ConfigError(f"{name}.lrs{_key_text(unknown[0])}: expected a registered loss's grid "
                              f"({', '.join(known)}), found one for {unknown[0]!r}; name a registered loss, or "
                              f"drop it")
        missing = [loss for loss in block["losses"] if loss not in lrs]
        if missing:
            raise ConfigError(f"{name}.lrs: expected a grid for each of {name}.losses ({', '.join(block['losses'])}), "
                              f"found none for {', '.join(missing)}; give {'it' if len(missing) == 1 else 'each'} "
                              f"one, or give {name}.lrs one list for every loss")
        lrs = {loss: [float(lr) for lr in lrs[loss]] for loss in block["losses"]}
    else:
        lrs = [float(lr) for lr in lrs]
    return {**block, "lrs": lrs, "epochs": block["epochs"] or config["epochs"]}


def _key_text(key) -> str:
    """A mapping key as a config path writes it: .name for a plain name, else [repr] ([None], ['a b'], [1])."""
    return f".{key}" if isinstance(key, str) and key.isidentifier() else f"[{key!r}]"


def lr_study_lrs(study: Mapping, loss: str) -> list[float]:
    """``loss``'s lr grid in a checked study block: its own list where ``lrs`` maps each loss to one, else the
    one list every loss trains."""
    lrs = study["lrs"]
    return list(lrs[loss] if isinstance(lrs, Mapping) else lrs)


def check_probe(config: dict, known_losses: Iterable[str]) -> dict | None:
    """The probe block (``probe:``, ``config`` validated) with its defaults resolved, or None when off: ``loss``
    (null: slow_loss) and ``reference``, two different registered losses; ``lr`` (null: the sweep's); ``epochs``
    (null: the horizon's budget when it is on, else the sweep's); ``probe_size`` at most train_size."""
    block = config.get("probe")
    if block is None:
        return None
    known = sorted(known_losses)
    resolved = {**block, "loss": block["loss"] or config["slow_loss"], "lr": block["lr"] or config["lr"],
                "epochs": block["epochs"] or (config.get("horizon") or {}).get("epochs") or config["epochs"]}
    for key in ("loss", "reference"):
        if resolved[key] not in known:
            where = "slow_loss (probe.loss is null)" if key == "loss" and block["loss"] is None else f"probe.{key}"
            raise ConfigError(f"{where}: expected a registered loss ({', '.join(known)}), found {resolved[key]!r}; "
                              "or set probe: null (off)")
    if resolved["loss"] == resolved["reference"]:
        raise ConfigError(f"probe.reference: expected a loss other than the probed one ({resolved['loss']}), found "
                          f"{resolved['reference']!r}; the probe compares two losses on one network")
    if resolved["probe_size"] > config["train_size"]:
        raise ConfigError(f"probe.probe_size: expected at most train_size ({config['train_size']}), found "
                          f"{resolved['probe_size']}")
    return resolved


def probe_run_settings(config: Mapping, probe: Mapping) -> dict:
    """The probed run's training settings: the sweep's shared ones with the probe's loss, lr and epochs (test_every:
    the budget; the probe reads no test set, the flag only has to be one)."""
    return {**shared_settings(config), "loss": probe["loss"], "lr": probe["lr"], "epochs": probe["epochs"],
            "test_every": probe["epochs"]}


def check_classes_study(config: dict, known_losses: Iterable[str]) -> dict | None:
    """The number-of-classes study block (``classes_study:``, ``config`` validated) with its defaults, or None
    when off.

    For each C of ``classes`` (at most the dataset's classes), each of ``losses`` is trained on the dataset's
    first C classes over its grid at C (``classes_study_lrs``) over ``seeds``, for ``epochs`` (null: the
    sweep's), on ``train_size``/``val_size`` images (null: the sweep's; they must fit the smallest C's
    training images); ``reference`` and ``threshold`` as for the lr study, the threshold a fraction of the
    way from chance (1/C) to 1.
    """
    from .data import DATASETS, class_train_images

    block = _study_block(config, "classes_study", known_losses)
    if block is None:
        return None
    spec = DATASETS[config["dataset"]]
    for i, classes in enumerate(block["classes"]):
        if classes > len(spec.classes):
            raise ConfigError(f"classes_study.classes[{i}]: expected at most {spec.title}'s {len(spec.classes)} "
                              f"classes, found {classes}")
    sizes = {key: block[key] or config[key] for key in ("train_size", "val_size")}
    where = {key: f"classes_study.{key}" if block[key] else f"{key} (classes_study.{key}: null, the sweep's)"
             for key in sizes}
    smallest = min(block["classes"])
    images = class_train_images(config["dataset"], smallest)
    if sizes["train_size"] + sizes["val_size"] > images:
        raise ConfigError(
            f"{where['train_size']} + {where['val_size']}: expected at most {images:,}, the {spec.title} training "
            f"images of labels 0 .. {smallest - 1} (C = {smallest}, the smallest of classes_study.classes), found "
            f"{sizes['train_size']} + {sizes['val_size']} = {sizes['train_size'] + sizes['val_size']}; set "
            "classes_study.train_size and classes_study.val_size smaller")
    if config["batch_size"] > sizes["train_size"]:
        raise ConfigError(f"{where['train_size']}: expected at least batch_size ({config['batch_size']}), "
                          f"found {sizes['train_size']}")
    return {**block, **sizes}


def check_optimizer_study(config: dict, known_losses: Iterable[str]) -> dict | None:
    """The optimiser control block (``optimizer_study:``, ``config`` validated) with its defaults, or None when
    off: each of ``losses`` trained with ``optimizer`` at every lr of ``lrs`` over ``seeds``, for ``epochs``
    (null: the sweep's), with the sweep's other settings."""
    return _study_block(config, "optimizer_study", known_losses)


def classes_study_lrs(study: Mapping, loss: str, classes: int) -> list[float]:
    """``loss``'s lr grid at C = ``classes``: the study's grid (the reference loss's) times the reference's
    declared initial logit-gradient scale at C over ``loss``'s (``Loss.predicted_scale``), so that each loss's
    grid sits where the gradient-scale reading puts its threshold; the study's grid where either loss declares
    no scale (no theory: nothing to place it by). Each product is rounded to 6 significant digits (its folder
    reads lr-1.5, not lr-1.5000000000000002, and lr-0.0212132 for an irrational factor; a 1e-6 relative shift
    is far below the grid's x3 steps)."""
    from .losses import loss_info

    reference = loss_info(study["reference"]).predicted_scale(classes)
    own = loss_info(loss).predicted_scale(classes)
    if reference is None or own is None:
        return list(study["lrs"])
    return [float(f"{lr * reference / own:.6g}") for lr in study["lrs"]]


def classes_study_variant(loss: str, classes: int) -> str:
    """The variant name of ``loss``'s grid at C = ``classes`` (each run records it with its lr:
    ``mse_softmax_C5_lr1.5``, lr_study_variant)."""
    return f"{loss}_C{classes}"


def optimizer_study_variant(loss: str, optimizer: str) -> str:
    """The variant name of ``loss``'s grid under ``optimizer`` (each run: ``mse_softmax_adam_lr0.001``)."""
    return f"{loss}_{optimizer}"


def classes_study_run_settings(config: Mapping, study: Mapping, classes: int, loss: str, lr: float) -> dict:
    """A classes-study run's settings: the sweep's shared ones on the first ``classes`` classes, the study's
    sizes and epochs, tested at the last epoch only."""
    settings = _study_run_settings(config, study, classes_study_variant(loss, classes), loss, lr)
    return {**settings, "classes": classes, "train_size": study["train_size"], "val_size": study["val_size"]}


def optimizer_study_run_settings(config: Mapping, study: Mapping, loss: str, lr: float) -> dict:
    """An optimiser-study run's settings: the sweep's shared ones with the study's optimiser, lr and epochs."""
    settings = _study_run_settings(config, study, optimizer_study_variant(loss, study["optimizer"]), loss, lr)
    return {**settings, "optimizer": study["optimizer"]}


STACKED, SEQUENTIAL = "stacked", "sequential"  # the two shapes of a packed job (pack_shape)


def pack_shape(setting: bool | str, on_cuda: bool) -> str | None:
    """The shape of training jobs: None (one job per run), or packed, one job per variant (and per study loss
    its lr x seed grid) in ``STACKED`` or ``SEQUENTIAL`` shape. The one place that decides it, for the
    workflow (``on_cuda``: lossbench.cluster.trains_on_cuda, without importing torch) and for
    ``lossbench train-seeds`` (``on_cuda``: the device it resolved).

    ``false``: one job per run. ``true``: packed and stacked anywhere (the runs' networks stacked, one batched
    step for all: equal to single runs up to float noise). ``auto`` (the default): packed everywhere, in the
    shape that pays on the device: stacked on CUDA, where a run's steps take about 0.1 s against seconds of
    process start-up and one small MLP leaves the GPU idle; sequential on CPU (the runs one after another in one
    process, each by ``train.train`` itself: bit-identical to single runs), where stacking is slower (0.91x a
    single run's speed per run, 2 cores) but each process's start-up (about 2.7 s, against 4.5 s of steps
    per 5-epoch run) is still worth paying once.
    """
    if setting == "auto":
        return STACKED if on_cuda else SEQUENTIAL
    return STACKED if setting else None


def packs_seeds(setting: bool | str, on_cuda: bool) -> bool:
    """Whether training is packed (``pack_shape`` is not None): one job per variant, and per study loss (or per
    study loss and seed, sequential) its grid."""
    return pack_shape(setting, on_cuda) is not None


# A study whose runs are this many epochs or fewer packs its grids under pack_seeds auto on CPU too: a one-epoch
# run of 5,000 images costs about 3.3 s of CPU alone (process start-up ~2 s, and the evaluation at epoch 0 and
# 1), 1.9 s in a packed 8-run grid (measured on this project's shared 2-core machine, 2026-12-05).
SHORT_RUN_EPOCHS = 1


def packs_study(setting: bool | str, on_cuda: bool, epochs: int) -> bool:
    """Whether a study's lr x seed grids are packed (one job per grid): as ``packs_seeds``, and under ``auto``
    also on CPU where the study's runs are short (``epochs`` at most SHORT_RUN_EPOCHS), since there the
    start-up a packed job pays once outweighs the cores that single jobs would share."""
    if setting == "auto" and epochs <= SHORT_RUN_EPOCHS:
        return True
    return packs_seeds(setting, on_cuda)


def shared_settings(config: Mapping) -> dict:
    """The training settings every variant starts from (top-level keys of TrainConfig's fields; a setting
    ``config`` lacks is the schema's default)."""
    config = {**defaults(), **config}
    shared = {f.name: config[f.name] for f in fields(TrainConfig) if f.name in config}
    shared["hidden"] = list(shared["hidden"])
    return shared


def lr_study_run_settings(config: Mapping, study: Mapping, loss: str, lr: float) -> dict:
    """A study run's settings: the sweep's shared ones, the loss at this lr for the study's epochs,
    tested at the last epoch only (selection reads validation accuracy, every epoch)."""
    return _study_run_settings(config, study, loss, loss, lr)


def _study_run_settings(config: Mapping, study: Mapping, variant: str, loss: str, lr: float) -> dict:
    """A study run of grid ``variant`` (its run's variant: ``<variant>_lr<lr>``): the sweep's shared settings,
    ``loss`` at ``lr`` for the study's epochs, tested at the last epoch only."""
    return {**shared_settings(config), "variant": lr_study_variant(variant, lr), "loss": loss, "lr": lr,
            "epochs": study["epochs"], "test_every": study["epochs"]}


def same_run(a: Mapping, b: Mapping) -> bool:
    """Two runs' settings train the same network the same way (for the same seed: the same run); a
    setting of ``HASH_DEFAULTS`` that one of them lacks is at its default."""
    return all(_comparable(a.get(k, HASH_DEFAULTS.get(k))) == _comparable(b.get(k, HASH_DEFAULTS.get(k)))
               for k in SAME_RUN_KEYS)


def _comparable(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def sweep_twin(settings: Mapping, variants: Mapping[str, dict]) -> str | None:
    """The sweep variant that trains exactly ``settings`` (a study point), if any: its runs are the
    study's for the seeds both have."""
    return next((name for name, v in variants.items() if same_run(v, settings)), None)


def loss_file_args(loss: str) -> list[str]:
    """``lossbench train`` flags that import the user's file defining ``loss`` (none for a built-in
    loss), with the file's SHA-256: an edited loss file changes the job's flags, so its runs train
    again, and a file edited after the job was planned is refused by the job."""
    from .atomic import sha256_file
    from .losses import loss_file_of

    path = loss_file_of(loss)
    if path is None:
        return []
    return ["--loss-file", str(path), "--loss-file-sha256", sha256_file(path)]


def train_args(settings: dict) -> str:
    """CLI flags for ``lossbench train`` from one variant's settings (seed and threads added by the rule).

    A setting of ``HASH_DEFAULTS`` at its default (optimizer sgd, every class) is the command's default and
    is left out: a job's command line is what it was before the setting existed, so Snakemake does not
    retrain runs made before it."""
    parts = []
    for key in sorted(settings):
        value = settings[key]
        if key in HASH_DEFAULTS and value == HASH_DEFAULTS[key]:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, (list, tuple)):
            parts.append(f"{flag} {' '.join(str(v) for v in value)}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)
