"""From config/config.yaml to one frozen ``TrainConfig`` per run (no torch import here).

The schema (workflow/schemas/config.schema.yaml) checks types and ranges; ``check`` adds the
rules a schema cannot express: loss names must be registered, variant names unique, a batch
no larger than the training split. Both run before Snakemake builds any job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields

from .errors import LossbenchError

# not part of the experiment's config hash
RUNTIME_FIELDS = ("seed", "device", "threads", "cuda_graph", "deterministic")
OVERRIDABLE = ("lr", "batch_size", "epochs", "hidden")  # what a variant may change


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
    """YAML keeps the last of two equal keys silently; refuse that (e.g. a variant named twice)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"{path}, line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    with open(path) as fh:
        yaml.load(fh, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def resolve_variants(config: dict) -> dict[str, dict]:
    """Variant name -> its training settings (every TrainConfig field but seed and threads).

    Each name under ``losses`` is a variant of itself with the shared settings; each entry
    under ``variants`` is a loss plus overrides.
    """
    shared = {f.name: config[f.name] for f in fields(TrainConfig) if f.name in config}
    shared["hidden"] = list(shared.get("hidden", TrainConfig.hidden))
    resolved = {name: {**shared, "variant": name, "loss": name} for name in config.get("losses", [])}
    for name, spec in (config.get("variants") or {}).items():
        if name in resolved:
            raise ConfigError(f"variants.{name}: duplicate variant name (also listed under 'losses')")
        resolved[name] = {**shared, **spec, "variant": name}
    return resolved


def check(config: dict, known_losses: Iterable[str]) -> dict[str, dict]:
    """Raise ConfigError naming the key for what the schema cannot see; return the variants."""
    known = set(known_losses)
    for i, name in enumerate(config.get("losses", [])):
        if name not in known:
            raise ConfigError(f"losses[{i}]: unknown loss {name!r}; registered: {', '.join(sorted(known))}")
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
    reference = config.get("reference")
    if reference is not None and reference not in variants:
        raise ConfigError(f"reference: {reference!r} is not a variant; choose one of {', '.join(variants)}")
    slow = config.get("slow_loss")
    if slow is not None and slow not in known:
        raise ConfigError(f"slow_loss: unknown loss {slow!r}; registered: {', '.join(sorted(known))}")
    return variants


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
