"""From config/config.yaml to one frozen ``TrainConfig`` per run (no torch import here).

The schema (workflow/schemas/config.schema.yaml) checks types and ranges; ``check`` adds the
rules a schema cannot express: loss names must be registered, variant names unique and whole
snake_case names, integers really integers (JSON schema's "integer" accepts 1.0), numbers
finite, a batch no larger than the training split, train + validation no larger than the
dataset. ``normalize`` runs before the schema and reads values as the user meant them
(``lr: 1e-3``, a string to YAML 1.1; ``--config 'seeds=[0,1]'``, whose items Snakemake
passes as text). All of them run before Snakemake builds any job.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields

from .errors import LossbenchError

# not part of the experiment's config hash
# (test_every: how often a run is tested, not what it trains: the weights are the same)
RUNTIME_FIELDS = ("seed", "device", "threads", "cuda_graph", "deterministic", "test_every")
OVERRIDABLE = ("lr", "batch_size", "epochs", "hidden")  # what a variant may change

# Names of losses and variants become folder names (results/<dataset>/runs/<variant>/).
NAME = re.compile(r"[a-z][a-z0-9_]*")
NAME_MAX = 64
DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")
SEED_MAX = 2**64 - 1  # torch.manual_seed takes 0 .. 2**64 - 1 (a negative seed wraps onto one of those)

# The kind of every typed setting, top level and in a variant (the schema's types).
INTEGERS = ("train_size", "val_size", "batch_size", "epochs", "test_every")
INTEGER_LISTS = ("seeds", "hidden")
NUMBERS = ("lr",)
BOOLEANS = ("cuda_graph", "pack_seeds", "deterministic")
# a number as YAML 1.2 / JSON / Python write it (YAML 1.1, PyYAML's, reads 1e-3 as a string)
NUMBER_LITERAL = re.compile(r"[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?(\.?inf|\.?nan)", re.IGNORECASE)
INTEGER_LITERAL = re.compile(r"[-+]?\d+")


# The long-horizon block's settings but its variants (config `horizon:`; the schema's defaults).
# 4 epochs within 1 point: the plateau criterion of lossbench.horizon (its docstring states it).
HORIZON_DEFAULTS = {"epochs": 20, "seeds": [0, 1], "test_every": 20, "plateau_window": 4, "plateau_gain": 0.01}
HORIZON_INTEGERS = ("epochs", "test_every", "plateau_window")
OFF = ("", "null", "none", "~")  # --config horizon=null (Snakemake passes the text)

# The learning-rate study's settings (config `lr_study:`; the schema's defaults). epochs None: the
# sweep's. Grid: ~x3 steps from where every default loss is still rising after epoch 1 to where
# cross_entropy diverges, each default loss's best lr strictly inside; two seeds, so that the default
# pipeline stays within 10 minutes on a 2-core CPU (README, "Learning rate": measured, and the full grid).
LR_STUDY_DEFAULTS = {
    "losses": ["cross_entropy", "mse_softmax", "mse_logits"],
    "lrs": [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
    "seeds": [0, 1], "epochs": None, "reference": "cross_entropy", "threshold": 0.5,
}
# What makes a study point the same run as a sweep's (then it is read from the sweep, not retrained)
SAME_RUN_KEYS = ("loss", "lr", "dataset", "train_size", "val_size", "hidden", "batch_size", "epochs")


class ConfigError(LossbenchError):
    """An inconsistent config; the message names the key."""


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

    def config_hash(self) -> str:
        """Hash of the experiment settings (not seed or runtime): equal for all seeds of a variant."""
        settings = {k: v for k, v in asdict(self).items() if k not in RUNTIME_FIELDS}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def config_from_flags(flags: Mapping, **override) -> TrainConfig:
    """The frozen config from parsed ``lossbench train`` flags (one flag per field), plus overrides."""
    values = {f.name: flags[f.name] for f in fields(TrainConfig) if f.name in flags} | override
    values["hidden"] = tuple(values["hidden"])
    return TrainConfig(**values)


def check_duplicate_keys(path: str) -> None:
    """YAML keeps the last of two equal keys silently; refuse that (e.g. a variant named twice).

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
        yaml.load(fh, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def resolve_variants(config: dict) -> dict[str, dict]:
    """Variant name -> its training settings (every TrainConfig field but seed and threads).

    Each name under ``losses`` is a variant of itself with the shared settings; each entry
    under ``variants`` is a loss plus overrides.
    """
    shared = shared_settings(config)
    resolved = {name: {**shared, "variant": name, "loss": name} for name in config.get("losses", [])}
    for name, spec in (config.get("variants") or {}).items():
        if name in resolved:
            raise ConfigError(f"variants.{name}: duplicate variant name (also listed under 'losses')")
        resolved[name] = {**shared, **spec, "variant": name}
    for settings in resolved.values():  # test_every null or absent (the default): the test set at the last epoch only
        if settings.get("test_every") is None:
            settings["test_every"] = settings.get("epochs", TrainConfig.epochs)
    return resolved


def normalize(config: dict, command_line: Mapping | None = None) -> None:
    """Read values as the user meant them, in place, before the schema sees them.

    ``lr`` (shared or a variant's) written as a number literal YAML 1.1 leaves a string
    (``1e-3``, ``5E+0``) becomes that number, wherever it was written. Values given with
    ``snakemake --config`` (``command_line``: Snakemake's parsed ``--config`` entries) arrive
    as text inside lists and mappings (``seeds=[0,1]`` gives ``['0', '1']``): those are read
    by the type their key has (integers, numbers, true/false), and a single seed or width
    (``seeds=3``) becomes a list of one. Anything else is left for the schema to refuse.
    """
    for key in NUMBERS:
        if key in config:
            config[key] = _number(config[key])
    for spec in (config.get("variants") or {}).values():
        if isinstance(spec, dict) and "lr" in spec:
            spec["lr"] = _number(spec["lr"])
    _normalize_lr_study(config, (command_line or {}).get("lr_study"))
    if not command_line:
        return
    for key in command_line:
        if key in config:
            config[key] = _from_text(key, config[key])
    _normalize_horizon(config, command_line.get("horizon"))
    given = command_line.get("variants")
    if isinstance(given, Mapping) and isinstance(config.get("variants"), dict):
        for name in given:
            spec = config["variants"].get(name)
            if isinstance(spec, dict):
                for key in spec:
                    spec[key] = _from_text(key, spec[key])


def _normalize_horizon(config: dict, given) -> None:
    """``--config horizon=null`` turns the block off; ``--config 'horizon={epochs: 40}'`` (merged
    into the config file's block, as text) is read by each key's type."""
    if isinstance(given, str) and given.strip().lower() in OFF:
        config["horizon"] = None
    block = config.get("horizon")
    if isinstance(given, Mapping) and isinstance(block, dict):
        for key in given:
            if key in HORIZON_INTEGERS and key in block:
                block[key] = _integer(block[key])
            elif key == "seeds" and key in block:
                block[key] = _from_text("seeds", block[key])
            elif key == "plateau_gain" and key in block:
                block[key] = _number(block[key])


def _normalize_lr_study(config: dict, given) -> None:
    """``lr_study: {lrs: [1e-3, ...]}`` (a string to YAML 1.1) and ``--config 'lr_study={lrs: [0.1, 1]}'``
    (text to Snakemake) read as numbers; ``--config lr_study=null`` turns the study off."""
    if isinstance(given, str) and given.strip().lower() in OFF:
        config["lr_study"] = None
    block = config.get("lr_study")
    if not isinstance(block, dict):
        return
    if isinstance(block.get("lrs"), list):
        block["lrs"] = [_number(v) for v in block["lrs"]]
    elif isinstance(block.get("lrs"), str):  # --config 'lr_study={lrs: 0.1}': one lr
        block["lrs"] = [_number(block["lrs"])]
    if "threshold" in block:
        block["threshold"] = _number(block["threshold"])
    if isinstance(given, Mapping):
        if "epochs" in given and "epochs" in block:
            epochs = block["epochs"]
            block["epochs"] = None if isinstance(epochs, str) and epochs.strip().lower() in OFF else _integer(epochs)
        if "seeds" in given and "seeds" in block:
            block["seeds"] = _from_text("seeds", block["seeds"])


def _number(value):
    """A number literal left as text (YAML 1.1 reads 1e-3 as a string) as the float it writes."""
    if isinstance(value, str) and NUMBER_LITERAL.fullmatch(value.strip()):
        return float(value.strip().replace("_", "").lower().replace(".inf", "inf").replace(".nan", "nan"))
    return value


def _integer(value):
    if isinstance(value, str) and INTEGER_LITERAL.fullmatch(value.strip()):
        return int(value)
    return value


def _from_text(key: str, value):
    """One --config value read by its key's type (text that is not one stays, for the schema to refuse)."""
    if key in INTEGERS:
        return _integer(value)
    if key in NUMBERS:
        return _number(value)
    if key in BOOLEANS and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if key in INTEGER_LISTS:
        if isinstance(value, list):
            return [_integer(v) for v in value]
        if isinstance(_integer(value), int) and not isinstance(value, bool):  # seeds=3: one seed
            return [_integer(value)]
    return value


def _kind(value) -> str:
    """How a value reads in a message: as written, and its type."""
    return f"{value!r} ({type(value).__name__})"


def _check_integer(where: str, value, minimum: int = 1, maximum: int | None = None) -> None:
    """JSON schema's "integer" accepts 1.0; a setting used as a count or a seed must be an int."""
    if isinstance(value, bool) or not isinstance(value, int):
        hint = f"; write {int(value)}" if isinstance(value, float) and value.is_integer() else ""
        raise ConfigError(f"{where}: expected an integer, found {_kind(value)}{hint}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" .. {maximum}" if maximum is not None else " or more"
        raise ConfigError(f"{where}: expected an integer {minimum}{upper}, found {value}")


def _check_number(where: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where}: expected a finite number > 0, found {_kind(value)}")


def _check_name(where: str, name, what: str) -> None:
    """A whole-string match: the schema's ``^...$`` also passes 'name\\n' (``$`` matches before a final newline)."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or len(name) > NAME_MAX:
        raise ConfigError(
            f"{where}: a {what} name must be lower-case snake_case (a letter, then letters, digits or _; "
            f"at most {NAME_MAX} characters; it becomes a folder name), found {name!r}"
            + (f" ({len(name)} characters)" if isinstance(name, str) and len(name) > NAME_MAX else "")
        )


def _block(config: Mapping, key: str, keys: list[str], example: str) -> Mapping | None:
    """A config block (``horizon:``, ``lr_study:``): None when off, else a mapping of known keys only."""
    block = config.get(key)
    if block is not None and not isinstance(block, Mapping):
        raise ConfigError(f"{key}: expected a mapping ({example}) or null (off), found {_kind(block)}")
    unknown = sorted(set(block or {}) - set(keys))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key; expected {', '.join(keys)}")
    return block


def _check_seeds(where: str, seeds) -> None:
    """A block's seeds: a non-empty list of distinct integers torch.manual_seed takes."""
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"{where}: expected a non-empty list of seeds, found {_kind(seeds)}")
    for i, seed in enumerate(seeds):
        _check_integer(f"{where}[{i}]", seed, minimum=0, maximum=SEED_MAX)
        if seed in seeds[:i]:
            raise ConfigError(f"{where}[{i}]: seed {seed} is listed twice")


def _check_settings(where: str, settings: Mapping) -> None:
    """Integers, numbers and lists of integers among ``settings`` (top level or a variant's overrides)."""
    prefix = f"{where}." if where else ""
    for key in INTEGERS:
        if key in settings and not (key == "test_every" and settings[key] is None):  # null: the last epoch
            _check_integer(prefix + key, settings[key])
    for key in NUMBERS:
        if key in settings:
            _check_number(prefix + key, settings[key])
    if "hidden" in settings:
        for i, width in enumerate(settings["hidden"]):
            _check_integer(f"{prefix}hidden[{i}]", width)


def check(config: dict, known_losses: Iterable[str]) -> dict[str, dict]:
    """Raise ConfigError naming the key for what the schema cannot see; return the variants."""
    from .data import DATASETS

    known = set(known_losses)
    _check_settings("", config)
    for i, seed in enumerate(config.get("seeds", [])):
        _check_integer(f"seeds[{i}]", seed, minimum=0, maximum=SEED_MAX)
    device = config.get("device", "auto")
    if not isinstance(device, str) or not DEVICE.fullmatch(device):
        raise ConfigError(f"device: expected auto, cpu, cuda or cuda:N, found {device!r}")
    for i, name in enumerate(config.get("losses", [])):
        _check_name(f"losses[{i}]", name, "loss")
        if name not in known:
            raise ConfigError(f"losses[{i}]: unknown loss {name!r}; registered: {', '.join(sorted(known))}")
    for name, spec in (config.get("variants") or {}).items():
        _check_name(f"variants.{name}" if isinstance(name, str) and name.isprintable() else f"variants[{name!r}]",
                    name, "variant")
        _check_settings(f"variants.{name}", spec)
    variants = resolve_variants(config)
    if not variants:
        raise ConfigError("losses/variants: nothing to train; list at least one loss")
    for name, settings in variants.items():
        if settings["loss"] not in known:
            raise ConfigError(f"variants.{name}.loss: unknown loss {settings['loss']!r}; "
                              f"registered: {', '.join(sorted(known))}")
        if settings["batch_size"] > settings["train_size"]:
            where = "batch_size" if name in config.get("losses", []) else f"variants.{name}"
            raise ConfigError(
                f"{where}: batch_size {settings['batch_size']} is larger than train_size {settings['train_size']}"
            )
    spec = DATASETS.get(config.get("dataset", "mnist"))
    train_size = config.get("train_size", TrainConfig.train_size)
    val_size = config.get("val_size", TrainConfig.val_size)
    if spec is not None and train_size + val_size > spec.n_train:
        raise ConfigError(
            f"train_size + val_size: {train_size} + {val_size} = {train_size + val_size} images, but "
            f"{spec.title}'s training set has {spec.n_train:,}; both are drawn from it, disjoint"
        )
    reference = config.get("reference")
    if reference is not None and reference not in variants:
        raise ConfigError(f"reference: {reference!r} is not a variant; choose one of {', '.join(variants)}")
    slow = config.get("slow_loss")
    if slow is not None and slow not in known:
        raise ConfigError(f"slow_loss: unknown loss {slow!r}; registered: {', '.join(sorted(known))}")
    return variants


def check_horizon(config: dict, variants: Mapping[str, dict]) -> dict | None:
    """The long-horizon block (``horizon:``) with its defaults filled in, or None when it is off.

    It names variants defined by ``losses``/``variants`` (``variants``, the result of ``check``);
    each is trained for ``epochs`` over ``seeds``, tested every ``test_every``-th epoch;
    ``plateau_window`` and ``plateau_gain`` are the page's plateau criterion. Raise ConfigError
    naming the key, what was expected and what was found.
    """
    block = _block(config, "horizon", ["variants", *HORIZON_DEFAULTS], "{variants: [...], epochs: N, ...}")
    if block is None:
        return None
    settings = {**HORIZON_DEFAULTS, **block}
    names = settings.get("variants")
    if not isinstance(names, list) or not names:
        raise ConfigError(f"horizon.variants: expected a non-empty list of variant names, found "
                          f"{_kind(names) if 'variants' in block else 'nothing'}")
    for i, name in enumerate(names):
        if name not in variants:
            raise ConfigError(f"horizon.variants[{i}]: unknown variant {name!r}; expected one defined by "
                              f"losses or variants: {', '.join(variants)}")
        if name in names[:i]:
            raise ConfigError(f"horizon.variants[{i}]: {name!r} is listed twice")
    for key in HORIZON_INTEGERS:
        _check_integer(f"horizon.{key}", settings[key])
    _check_seeds("horizon.seeds", settings["seeds"])
    gain = settings["plateau_gain"]
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not 0 < gain < 1:
        raise ConfigError(f"horizon.plateau_gain: expected a validation-accuracy gain between 0 and 1 "
                          f"(0.01 = 1 point), found {_kind(gain)}")
    if settings["plateau_window"] > settings["epochs"]:
        raise ConfigError(f"horizon.plateau_window: expected at most horizon.epochs ({settings['epochs']}: the "
                          f"window must fit in the budget), found {settings['plateau_window']}")
    return settings


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
    """The learning-rate study block (``lr_study:``) with its defaults filled in, or None when it is off.

    Each of ``losses`` (registered losses, a user's own included) is trained at every lr of ``lrs``
    over ``seeds``, for ``epochs`` (null: the sweep's), with the sweep's other settings;
    ``reference`` (one of the losses) is what the others are compared with and scaled by, and
    ``threshold`` the validation accuracy after epoch 1 that defines each loss's threshold lr.
    Raise ConfigError naming the key, what was expected and what was found.
    """
    block = _block(config, "lr_study", list(LR_STUDY_DEFAULTS), "{losses: [...], lrs: [...], ...}")
    if block is None:
        return None
    settings = {**LR_STUDY_DEFAULTS, **block}
    known = set(known_losses)
    losses = settings["losses"]
    if not isinstance(losses, list) or not losses:
        raise ConfigError(f"lr_study.losses: expected a non-empty list of registered losses, found {_kind(losses)}")
    for i, name in enumerate(losses):
        if name not in known:
            raise ConfigError(f"lr_study.losses[{i}]: unknown loss {name!r}; registered: {', '.join(sorted(known))}")
        if name in losses[:i]:
            raise ConfigError(f"lr_study.losses[{i}]: {name!r} is listed twice")
    lrs = settings["lrs"]
    if not isinstance(lrs, list) or not lrs:
        raise ConfigError(f"lr_study.lrs: expected a non-empty list of learning rates (numbers > 0), "
                          f"found {_kind(lrs)}")
    for i, lr in enumerate(lrs):
        _check_number(f"lr_study.lrs[{i}]", lr)
        twin = next((j for j in range(i) if lrs[j] == lr), None)
        if twin is not None:
            raise ConfigError(f"lr_study.lrs[{i}]: {lr!r} is listed twice (also lr_study.lrs[{twin}]); "
                              "expected distinct learning rates")
    _check_seeds("lr_study.seeds", settings["seeds"])
    if settings["epochs"] is not None:
        _check_integer("lr_study.epochs", settings["epochs"])
    if settings["reference"] not in losses:
        raise ConfigError(f"lr_study.reference: {settings['reference']!r} is not one of lr_study.losses "
                          f"({', '.join(map(str, losses))}); expected the loss the others are compared with")
    threshold = settings["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ConfigError(f"lr_study.threshold: expected a validation accuracy between 0 and 1 (0.5 = half "
                          f"the images right), found {_kind(threshold)}")
    return {**settings, "lrs": [float(lr) for lr in lrs],
            "epochs": settings["epochs"] or config.get("epochs", TrainConfig.epochs)}


def shared_settings(config: Mapping) -> dict:
    """The training settings every variant starts from (top-level keys of TrainConfig's fields)."""
    shared = {f.name: config[f.name] for f in fields(TrainConfig) if f.name in config}
    shared["hidden"] = list(shared.get("hidden", TrainConfig.hidden))
    return shared


def lr_study_run_settings(config: Mapping, study: Mapping, loss: str, lr: float) -> dict:
    """A study run's settings: the sweep's shared ones, the loss at this lr for the study's epochs,
    tested at the last epoch only (selection reads validation accuracy, every epoch)."""
    return {**shared_settings(config), "variant": lr_study_variant(loss, lr), "loss": loss, "lr": lr,
            "epochs": study["epochs"], "test_every": study["epochs"]}


def same_run(a: Mapping, b: Mapping) -> bool:
    """Two runs' settings train the same network the same way (for the same seed: the same run)."""
    return all(_comparable(a.get(k)) == _comparable(b.get(k)) for k in SAME_RUN_KEYS)


def _comparable(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def sweep_twin(settings: Mapping, variants: Mapping[str, dict]) -> str | None:
    """The sweep variant that trains exactly ``settings`` (a study point), if any: its runs are the
    study's for the seeds both have."""
    return next((name for name, v in variants.items() if same_run(v, settings)), None)


def train_args(settings: dict) -> str:
    """CLI flags for ``lossbench train`` from one variant's settings (seed and threads added by the rule)."""
    parts = []
    for key in sorted(settings):
        value = settings[key]
        flag = "--" + key.replace("_", "-")
        if isinstance(value, (list, tuple)):
            parts.append(f"{flag} {' '.join(str(v) for v in value)}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)
