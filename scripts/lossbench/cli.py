"""The ``lossbench`` command; each Snakemake rule calls one subcommand.

    lossbench data   --dataset mnist --out resources/data/mnist [--mirror DIR]
    lossbench train  --variant V --loss L --seed S --data resources/data/mnist/data.pt --out-dir DIR [...]
    lossbench train-seeds --variant V --loss L --seeds 0 1 2 --data D --out-dir results/mnist/runs/V
    lossbench gather --runs results/mnist/runs/*/seed-*/metrics.json --out-dir results/mnist/tables
    lossbench report --notebook reports/notebooks/comparison.py --out reports/html/mnist/comparison.html --title T
    lossbench bench  --data resources/data/mnist/data.pt --repeats 3 --startup --json bench.json
    lossbench index  --out reports/html/mnist/index.html --title T --pages JSON \
                     --summary results/mnist/tables/summary.csv
    lossbench compare RUN_A RUN_B      (exit 0 when bit-identical but for wall-clock timings)
    lossbench figure --tables results/mnist/tables --out docs/key-figure.png

``python -m lossbench`` is the same command. Every help text ends with an example that runs as
written (tests/test_cli.py runs them). Subcommands import their modules lazily, so ``lossbench
train`` loads torch and nothing else heavy (no pandas, seaborn, papermill, snakemake): start-up
matters per job. Logs go to stderr. A user's mistake ends with one error line and no traceback:
a usage error (``ArgumentError``: argparse's own complaints, a missing or unknown flag, and the
checks below: a count that must be >= 1, an lr that must be a positive number, an output folder
that is a file, a JSON argument of the wrong shape, ...) exits with status 2, as argparse's
users expect; any other ``LossbenchError`` (a bad input file, config, data or run folder) with 1.
Any other exception is a bug and shows its traceback. Arguments are checked before any work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import re
import sys
from pathlib import Path

from .errors import LossbenchError

USAGE = 2  # exit status of a usage error, argparse's convention; other user mistakes exit 1


class ArgumentError(LossbenchError):
    """A command-line argument that is not what was expected; the message names it (exit status 2)."""

    exit_status = USAGE


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors raised as one-line ``ArgumentError``s (exit 2, no usage dump)."""

    def error(self, message: str):
        raise ArgumentError(f"{self.prog}: {message} (`{self.prog} --help` lists the arguments)")


# --- argument types: each refuses a bad value with what was expected and what was found ---------

def _integer(low: int, high: int | None = None):
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text!r}")
        return value

    return parse


positive_int = _integer(1)
count = _integer(0)
seed_int = _integer(0, 2**64 - 1)  # what torch.manual_seed accepts, negatives excluded


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, found {text!r}")
    return value


def name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}", text):
        raise argparse.ArgumentTypeError(
            f"expected a name of letters, digits, '_', '.' or '-' (at most 100), found {text!r}")
    return text


def device(text: str) -> str:
    if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, found {text!r}")
    return text


def optimizer(text: str) -> str:
    from .config import OPTIMIZERS

    if text not in OPTIMIZERS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(OPTIMIZERS)}, found {text!r}")
    return text


def dataset(text: str) -> str:
    from .data import DATASETS

    if text not in DATASETS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(DATASETS)}, found {text!r}")
    return text


def _writable_under(path: Path) -> None:
    """The nearest existing folder above ``path`` is a folder (not a file) we can write in."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise argparse.ArgumentTypeError(f"{path}: cannot write in {parent} (permission denied)")
            return


def output_dir(text: str) -> str:
    path = Path(text)
    if not text or (path.exists() and not path.is_dir()):
        raise argparse.ArgumentTypeError(f"{text!r} is a file; expected a folder (new or existing)")
    _writable_under(path)
    return text


def output_file(text: str) -> str:
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file name")
    _writable_under(path)
    return text


def input_file(text: str) -> str:
    if not Path(text).is_file():
        found = "a folder" if Path(text).is_dir() else "something else" if Path(text).exists() else "nothing there"
        raise argparse.ArgumentTypeError(f"{text!r}: expected an existing file, found {found}")
    return text


def table_prefix(text: str) -> str:
    if text and not re.fullmatch(r"[a-z][a-z0-9_]*_", text):
        raise argparse.ArgumentTypeError(f"expected snake_case ending in _ (e.g. horizon_), found {text!r}")
    return text


def title(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a non-empty title, found {text!r}")
    return text


# what each TrainConfig field takes on the command line
TRAIN_FLAG_TYPES = {
    "variant": name, "loss": name, "seed": seed_int, "dataset": dataset, "train_size": positive_int,
    "val_size": positive_int, "hidden": positive_int, "lr": positive_float, "batch_size": positive_int,
    "epochs": positive_int, "device": device, "threads": positive_int, "test_every": positive_int,
    "classes": _integer(2), "optimizer": optimizer,
}
TRAIN_FLAG_METAVAR = {"classes": "N", "optimizer": "{sgd,adam,nsgd}"}
TRAIN_FLAG_HELP = {
    "classes": "train on the dataset's first N classes only (labels 0..N-1: training, validation and test images "
               "of those labels; the MLP has N outputs); default: all 10",
    "optimizer": "sgd (plain SGD), adam (Adam, betas 0.9/0.999, eps 1e-8) or nsgd (normalised SGD: each step moves "
                 "lr x g/||g||, the norm over all the run's parameters)",
}


def _json_arg(text: str, flag: str):
    from .report import parse_json_arg

    try:
        return parse_json_arg(text, flag)
    except LossbenchError as exc:  # the argument itself is wrong: a usage error
        raise ArgumentError(str(exc)) from None


def _check_loss(name: str, flag: str = "--loss") -> None:
    """A loss the registry does not hold is a usage error naming its flag (exit 2)."""
    from .losses import get_loss

    try:
        get_loss(name)
    except LossbenchError as exc:
        raise ArgumentError(f"{flag}: {exc}") from None


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def json_object(text: str, flag: str) -> dict:
    value = _json_arg(text, flag)
    if not isinstance(value, dict):
        raise ArgumentError(f"{flag}: expected a JSON object ({{\"name\": value, ...}}), found {_kind(value)}: "
                            f"{text[:80]!r}")
    return value


def json_links(text: str, flag: str, required: tuple[str, ...] = ("href", "title"),
               optional: tuple[str, ...] = ()) -> list[dict]:
    """A JSON list of objects, each with a non-empty string for every key in ``required``."""
    value = _json_arg(text, flag)
    fields = ", ".join(f'"{k}"' for k in required)
    if not isinstance(value, list):
        raise ArgumentError(f"{flag}: expected a JSON list of objects with {fields}, found {_kind(value)}")
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ArgumentError(f"{flag}[{i}]: expected an object with {fields}, found {_kind(entry)}")
        for key in required:
            if not (isinstance(entry.get(key), str) and entry[key].strip()):
                found = "nothing" if key not in entry else f"{_kind(entry[key])} {json.dumps(entry[key])[:40]}"
                raise ArgumentError(f"{flag}[{i}].{key}: expected a non-empty string, found {found}")
        for key in optional:
            if key in entry and not isinstance(entry[key], str):
                raise ArgumentError(f"{flag}[{i}].{key}: expected a string, found {_kind(entry[key])}")
    return value


def _load_loss_files(args: argparse.Namespace) -> None:
    """Import the user's loss files (--loss-file), each checked against its --loss-file-sha256 when
    given (the workflow gives it: a file edited after snakemake planned the job is refused)."""
    from .atomic import sha256_file
    from .losses import LossFileError, load_loss_files

    hashes = args.loss_file_sha256 or []
    if hashes and len(hashes) != len(args.loss_file):
        raise ArgumentError(f"--loss-file-sha256: expected one per --loss-file ({len(args.loss_file)}), "
                            f"found {len(hashes)}")
    for path, expected in zip(args.loss_file, hashes):
        found = sha256_file(path) if Path(path).is_file() else "no file"
        if found != expected:
            raise LossFileError(f"--loss-file {path}: SHA-256 {found}, expected {expected} (the file snakemake "
                                "planned this job with); it changed since: run snakemake again")
    load_loss_files(args.loss_file, key="--loss-file")


def _add_benchmark_flag(parser: argparse.ArgumentParser) -> None:
    """--benchmark of the training commands: ``main`` writes the record when the command succeeds."""
    parser.add_argument("--benchmark", default=None, metavar="TSV", type=output_file,
                        help="at the end, write this process's wall time, peak memory, I/O and CPU time here, in "
                             "the columns of a Snakemake benchmark file (the workflow's benchmarks/)")


def _add_loss_file_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loss-file", action="append", default=[], metavar="PATH",
                        help="a Python file of your own losses (@register_loss), imported first; repeatable")
    parser.add_argument("--loss-file-sha256", action="append", default=None, metavar="HEX",
                        help="the SHA-256 each --loss-file must have (the workflow passes it)")


def _check_training(args: argparse.Namespace) -> None:
    """What one flag alone cannot say: the dataset has the classes, the batch fits the split, the loss and
    device exist (that the classes have train_size + val_size images is checked on the data: train.make_split)."""
    from .data import DATASETS

    _load_loss_files(args)
    spec = DATASETS[args.dataset]
    if args.classes > len(spec.classes):
        raise ArgumentError(f"--classes {args.classes}: expected at most {len(spec.classes)} ({spec.title}'s "
                            f"classes; a run uses the first N)")
    if args.batch_size > args.train_size:
        raise ArgumentError(f"--batch-size {args.batch_size}: larger than --train-size {args.train_size}; "
                            "expected at most the training split")
    _check_loss(args.loss)
    _check_device(args.device)


def _check_device(name: str) -> None:
    """``cuda``/``cuda:N`` that this process cannot see: one error naming the host,
    CUDA_VISIBLE_DEVICES and the torch build (``devices.check_visible``), before any work."""
    if name.startswith("cuda"):
        from .devices import check_visible

        check_visible(name)


def _add_train_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    from .config import TrainConfig

    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = TRAIN_FLAG_TYPES.get(f.name)
        if f.default is dataclasses.MISSING:
            parser.add_argument(flag, required=True, type=kind or (int if f.type == "int" else str))
        elif isinstance(f.default, bool):
            parser.add_argument(flag, type=_boolean, default=f.default, metavar="{true,false}")
        elif isinstance(f.default, tuple):
            parser.add_argument(flag, type=kind or int, nargs="+", default=list(f.default))
        else:
            parser.add_argument(flag, type=kind or type(f.default), default=f.default, help=TRAIN_FLAG_HELP.get(f.name),
                                metavar=TRAIN_FLAG_METAVAR.get(f.name))


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, found {text!r}")


def cmd_data(args: argparse.Namespace) -> None:
    from . import data

    data.prepare(args.dataset, args.out, mirror=args.mirror)


def cmd_train(args: argparse.Namespace) -> None:
    from . import data, train
    from .config import config_from_flags

    _check_training(args)
    train.train(config_from_flags(vars(args)), data.load(args.data), out_dir=args.out_dir,
                data_checksums=data.checksums(args.data))


def cmd_train_seeds(args: argparse.Namespace) -> None:
    from . import data, packed
    from .config import TrainConfig, config_from_flags
    from .runfolder import check_out_dir

    if len(set(args.seeds)) != len(args.seeds):
        raise ArgumentError(f"--seeds: expected distinct seeds, found {' '.join(map(str, args.seeds))}")
    if args.lrs is not None and len(set(args.lrs)) != len(args.lrs):
        raise ArgumentError(f"--lrs: expected distinct learning rates, found {' '.join(map(str, args.lrs))}")
    if args.lrs is not None and args.lr is not None:
        raise ArgumentError(f"--lr {args.lr} and --lrs: expected one of them (--lrs trains the grid LRS x SEEDS)")
    grid = args.lrs is not None
    if not grid:
        args.lr = TrainConfig.lr if args.lr is None else args.lr  # neither --lr nor --lrs: the default
    _check_training(args)
    if args.lrs is None:
        configs = [config_from_flags(vars(args), seed=seed) for seed in args.seeds]
    else:
        configs = packed.grid_configs(config_from_flags(vars(args), seed=0), args.lrs, args.seeds)
    for cfg in configs:
        check_out_dir(packed.run_dir(args.out_dir, cfg, grid))
    packed.train_runs(configs, data.load(args.data), out_dir=args.out_dir, data_checksums=data.checksums(args.data),
                      by_lr=grid, shape=args.shape)


def cmd_probe(args: argparse.Namespace) -> None:
    from . import data, probe
    from .config import config_from_flags

    _check_training(args)
    _check_loss(args.reference, "--reference")
    probe.run_probe(config_from_flags(vars(args), variant=args.loss), data.load(args.data), args.reference,
                    points_per_epoch=args.points_per_epoch, probe_size=args.probe_size, out=args.out)


def cmd_gather_probe(args: argparse.Namespace) -> None:
    from . import probe

    probe.gather(args.probes, args.out_dir)


def cmd_gather(args: argparse.Namespace) -> None:
    from . import tables

    tables.write_tables(args.runs, args.out_dir, prefix=args.prefix)


def cmd_report(args: argparse.Namespace) -> None:
    from . import report

    nav = json_links(args.nav, "--nav")
    if args.pages is None:
        if args.out is None or args.title is None:
            missing = " and ".join(flag for flag, value in (("--out", args.out), ("--title", args.title))
                                   if value is None)
            raise ArgumentError(f"{missing}: expected for one page (or --pages for several), found none")
        parameters = json_object(args.parameters or "{}", "--parameters")
        pages = [report.Page(args.out, {**parameters, "title": args.title}, args.title, args.executed_notebook)]
    else:
        given = [flag for flag, value in (("--out", args.out), ("--title", args.title),
                                          ("--parameters", args.parameters), ("--executed-notebook",
                                                                              args.executed_notebook))
                 if value is not None]
        if given:
            raise ArgumentError(f"--pages: expected alone (each page gives its own out, title, parameters and "
                                f"executed_notebook), found also {', '.join(given)}")
        pages = json_pages(args.pages, "--pages")
    report.render_pages(args.notebook, pages, nav)


def json_pages(text: str, flag: str) -> list:
    """--pages: a JSON list of pages, each {"out", "title"} and optionally "parameters" (an object) and
    "executed_notebook" (a path), as ``report.Page``s (the title is also the notebook's ``title`` parameter)."""
    from . import report

    entries = json_links(text, flag, required=("out", "title"), optional=("executed_notebook",))
    pages = []
    for i, entry in enumerate(entries):
        unknown = sorted(set(entry) - {"out", "title", "parameters", "executed_notebook"})
        if unknown:
            raise ArgumentError(f"{flag}[{i}]: expected the keys out, title, parameters, executed_notebook, found "
                                f"also {', '.join(unknown)}")
        parameters = entry.get("parameters", {})
        if not isinstance(parameters, dict):
            raise ArgumentError(f"{flag}[{i}].parameters: expected a JSON object, found {_kind(parameters)}")
        for key in ("out", "executed_notebook"):
            if key in entry:
                try:
                    output_file(entry[key])
                except argparse.ArgumentTypeError as exc:
                    raise ArgumentError(f"{flag}[{i}].{key}: {exc}") from None
        pages.append(report.Page(entry["out"], {**parameters, "title": entry["title"]}, entry["title"],
                                 entry.get("executed_notebook")))
    if not pages:
        raise ArgumentError(f"{flag}: expected at least one page, found an empty list")
    return pages


def cmd_index(args: argparse.Namespace) -> None:
    from . import report

    pages = json_links(args.pages, "--pages", optional=("description",))
    report.write_index(args.out, args.title, pages, args.summary, args.reference, args.slow_loss)


def cmd_bench(args: argparse.Namespace) -> None:
    from . import bench

    _load_loss_files(args)
    _check_loss(args.loss)
    if args.packed_lrs is not None and not args.packed:
        raise ArgumentError("--packed-lrs: expected with --packed N (the seeds of the grid), found no --packed")
    if args.packed_lrs is not None and len(set(args.packed_lrs)) != len(args.packed_lrs):
        raise ArgumentError(f"--packed-lrs: expected distinct learning rates, found "
                            f"{' '.join(map(str, args.packed_lrs))}")
    _check_device(args.device)
    bench.main(args)


def cmd_compare(args: argparse.Namespace) -> int:
    from . import compare

    return compare.main(args.run_a, args.run_b)


# Each help text ends with one of these; they run as written, in this order, from the repository
# root (tests/test_cli.py runs them on tiny synthetic data). /tmp/lb holds the example's files.
DATA = "resources/data/mnist/data.pt"
EXAMPLES = {
    "lossbench": ["make run    # the whole pipeline; or one piece by hand:",
                  f"lossbench train --variant cross_entropy --loss cross_entropy --seed 0 --epochs 1 --data {DATA} "
                  "--out-dir /tmp/lb/runs/cross_entropy/seed-0"],
    "data": ["lossbench data --dataset mnist --out resources/data/mnist    # --mirror DIR offline"],
    "train": [f"lossbench train --variant cross_entropy --loss cross_entropy --seed 0 --epochs 1 --data {DATA} "
              "--out-dir /tmp/lb/runs/cross_entropy/seed-0"],
    "train-seeds": [f"lossbench train-seeds --variant mse_softmax --loss mse_softmax --seeds 0 1 --epochs 1 "
                    f"--data {DATA} --out-dir /tmp/lb/runs/mse_softmax"],
    "probe": [f"lossbench probe --loss mse_softmax --reference cross_entropy --seed 0 --epochs 1 --data {DATA} "
              "--out /tmp/lb/probe/probe.csv"],
    "gather-probe": ["lossbench gather-probe --probes /tmp/lb/probe/probe.csv --out-dir /tmp/lb/tables"],
    "gather": ["lossbench gather --runs /tmp/lb/runs/*/seed-*/metrics.json --out-dir /tmp/lb/tables"],
    "report": ["lossbench report --notebook reports/notebooks/comparison.py --out /tmp/lb/comparison.html "
               "--title 'Losses on MNIST' --parameters '{\"runs_csv\": \"/tmp/lb/tables/runs.csv\", "
               "\"epochs_csv\": \"/tmp/lb/tables/epochs.csv\", \"summary_csv\": \"/tmp/lb/tables/summary.csv\", "
               "\"reference\": \"cross_entropy\"}'"],
    "index": ["lossbench index --out /tmp/lb/index.html --title 'Losses on MNIST' "
              "--pages '[{\"href\": \"comparison.html\", \"title\": \"Comparison\"}]' "
              "--summary /tmp/lb/tables/summary.csv"],
    "bench": [f"lossbench bench --data {DATA} --repeats 1 --epochs 1"],
    "compare": [f"lossbench train --variant cross_entropy --loss cross_entropy --seed 0 --epochs 1 --data {DATA} "
                "--out-dir /tmp/lb/again",
                "lossbench compare /tmp/lb/runs/cross_entropy/seed-0 /tmp/lb/again    # exit 0: bit-identical"],
    "figure": ["lossbench figure --tables /tmp/lb/tables --out /tmp/lb/key-figure.png"],
}


def _epilog(command: str) -> str:
    return "Example:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])




def _add(sub, command: str, help: str) -> argparse.ArgumentParser:
    return sub.add_parser(command, help=help, description=help[0].upper() + help[1:] + ".", epilog=_epilog(command),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def cmd_figure(args: argparse.Namespace) -> None:
    from . import keyfigure

    keyfigure.write(args.tables, args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="lossbench", description="Train one MLP with several classification losses and report how "
                    "they compare and why MSE on softmax is slow. Each Snakemake rule calls one subcommand; "
                    "`make run` runs them all. `lossbench COMMAND --help` says what each takes.",
                    epilog=_epilog("lossbench"),
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _add(sub, "data", "verify a dataset and write data.pt + manifest.json")
    p.add_argument("--dataset", default="mnist", type=dataset)
    p.add_argument("--out", required=True, help="output folder, e.g. resources/data/mnist")
    p.add_argument("--mirror", default=None, help="folder holding the original .gz files "
                   "($LOSSBENCH_DATA_MIRROR overrides); omitted: torchvision downloads them")
    p.set_defaults(func=cmd_data)

    p = _add(sub, "train", "train one (variant, seed) run")
    _add_train_flags(p)
    _add_loss_file_flags(p)
    p.add_argument("--data", required=True, help="data.pt written by 'lossbench data'")
    p.add_argument("--out-dir", required=True, type=output_dir,
                   help="run folder for metrics.json, history.csv, model.pt, predictions.csv "
                        "(appears whole at the end)")
    _add_benchmark_flag(p)
    p.set_defaults(func=cmd_train)

    p = _add(sub, "train-seeds", "train several seeds of one variant together in one process (stacked on CUDA, "
                                 "one after another on CPU)")
    _add_train_flags(p, skip=("seed",))
    _add_loss_file_flags(p)
    p.add_argument("--seeds", type=seed_int, nargs="+", required=True, help="seeds to train, e.g. 0 1 2 3 4")
    p.add_argument("--lrs", type=positive_float, nargs="+", default=None,
                   help="train the grid LRS x SEEDS of the loss, each run with its own lr, into "
                        "OUT_DIR/lr-<lr>/seed-<s>/ as variant <variant>_lr<lr> (instead of --lr)")
    p.set_defaults(lr=None)  # --lr or --lrs, not both; neither: TrainConfig's lr
    p.add_argument("--shape", choices=("auto", "stacked", "sequential"), default="auto",
                   help="stacked: the runs' networks stacked, one batched step for all (equal to single runs up to "
                        "float noise); sequential: one after another, each exactly as lossbench train runs it "
                        "(bit-identical), the start-up paid once; auto (default): stacked on CUDA, sequential "
                        "elsewhere (pack_seeds auto's choice)")
    p.add_argument("--data", required=True, help="data.pt written by 'lossbench data'")
    p.add_argument("--out-dir", required=True, type=output_dir,
                   help="variant folder: each seed writes OUT_DIR/seed-<s>/ (with --lrs: OUT_DIR/lr-<lr>/seed-<s>/)")
    _add_benchmark_flag(p)
    p.set_defaults(func=cmd_train_seeds)

    p = _add(sub, "probe", "train one run and probe both losses' gradients on the same network (probe.csv)")
    _add_train_flags(p, skip=("variant",))
    _add_loss_file_flags(p)
    p.add_argument("--reference", default="cross_entropy", type=name, help="the loss compared on the same network")
    p.add_argument("--points-per-epoch", type=positive_int, default=10, help="probe points per epoch (and step 0)")
    p.add_argument("--probe-size", type=positive_int, default=100,
                   help="probe batch: the first N training images of the split")
    p.add_argument("--data", required=True, help="data.pt written by 'lossbench data'")
    p.add_argument("--out", required=True, type=output_file, help="probe.csv to write (whole or not at all)")
    _add_benchmark_flag(p)
    p.set_defaults(func=cmd_probe)

    p = _add(sub, "gather-probe", "collect probed runs' probe.csv into one probe.csv and its record")
    p.add_argument("--probes", nargs="+", required=True, type=input_file, help="probe.csv files of lossbench probe")
    p.add_argument("--out-dir", required=True, type=output_dir, help="tables folder: probe.csv, probe_gathered.json")
    p.set_defaults(func=cmd_gather_probe)

    p = _add(sub, "gather", "collect runs into runs.csv, epochs.csv, summary.csv")
    p.add_argument("--runs", nargs="+", required=True,
                   help="metrics.json files (history.csv, predictions.csv, model.pt beside each; all checked)")
    p.add_argument("--out-dir", required=True, type=output_dir)
    p.add_argument("--prefix", default="", type=table_prefix,
                   help="put before each table's name, e.g. horizon_ writes horizon_runs.csv, ... (default: none)")
    p.set_defaults(func=cmd_gather)
    p = _add(sub, "report", "execute a notebook page (papermill) and write it as HTML; --pages: several pages of "
                            "one notebook, one after another in one kernel")
    p.add_argument("--notebook", required=True, type=input_file,
                   help="jupytext .py source, e.g. reports/notebooks/comparison.py")
    p.add_argument("--out", type=output_file, help="HTML file to write (one page)")
    p.add_argument("--title", type=title, help="page title (shown literally; one page)")
    p.add_argument("--parameters", default=None, help="JSON object of notebook parameters (one page; default {})")
    p.add_argument("--nav", default="[]", help='JSON list of {"href", "title"} links for the top bar')
    p.add_argument("--executed-notebook", default=None, metavar="IPYNB", type=output_file,
                   help="keep papermill's executed notebook here (written also when a cell fails; one page)")
    p.add_argument("--pages", default=None, metavar="JSON",
                   help='instead of --out, --title, --parameters, --executed-notebook: a JSON list of pages, each '
                        '{"out", "title", "parameters", "executed_notebook"}, executed in one kernel (its namespace '
                        'reset between pages): the kernel and the imports are paid once')
    p.set_defaults(func=cmd_report)

    p = _add(sub, "index", "write index.html linking every page")
    p.add_argument("--out", required=True, type=output_file)
    p.add_argument("--title", required=True, type=title)
    p.add_argument("--pages", required=True, help='JSON list of {"href", "title", "description"}')
    p.add_argument("--summary", required=True, type=input_file, help="summary.csv for the headline table")
    p.add_argument("--reference", default="", help="the reference variant: the index opens with the answer")
    p.add_argument("--slow-loss", default="", help="the loss the why page explains (config slow_loss)")
    p.set_defaults(func=cmd_index)
    p = _add(sub, "bench", "time training against the notebook's DataLoader loop (and the CUDA-graph floor)")
    p.add_argument("--data", default="resources/data/mnist/data.pt", help="data.pt written by 'lossbench data'")
    p.add_argument("--loss", default="cross_entropy", type=name)
    p.add_argument("--repeats", type=positive_int, default=3, help="timed runs per method (after one warm-up run)")
    p.add_argument("--epochs", type=positive_int, default=5)
    p.add_argument("--device", default="auto", type=device)
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--startup", action="store_true", help="also time process start-up against 'import torch'")
    p.add_argument("--packed", type=count, default=0, metavar="N",
                   help="also train seeds 0..N-1 packed in one process (lossbench train-seeds) and time it")
    p.add_argument("--packed-lrs", type=positive_float, nargs="+", default=None, metavar="LR",
                   help="with --packed N: pack the grid LR... x seeds 0..N-1 instead (a learning-rate study of "
                        "--loss in one process, each run with its own lr)")
    p.add_argument("--floor", default=None, metavar="RESULTS",
                   help="time nothing: from a finished pipeline's results folder (e.g. results/mnist: its tables, "
                        "benchmarks/ and .snakemake/log/), its time against its training-step floor")
    p.add_argument("--json", default=None, type=output_file, help="write the figures, device and versions here")
    _add_loss_file_flags(p)
    p.set_defaults(func=cmd_bench)

    p = _add(sub, "compare", "check two run folders are bit-identical (but for wall-clock timings)")
    p.add_argument("run_a", help="run folder (metrics.json, history.csv, predictions.csv, model.pt)")
    p.add_argument("run_b")
    p.set_defaults(func=cmd_compare)

    p = _add(sub, "figure", "draw the README's key figure from a run's gathered tables (validation accuracy and "
             "train loss per epoch, every variant)")
    p.add_argument("--tables", default="results/mnist/tables", help="folder of gather's tables (epochs.csv)")
    p.add_argument("--out", required=True, type=output_file, help="PNG file to write, e.g. docs/key-figure.png")
    p.set_defaults(func=cmd_figure)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:  # named with the subcommand whose --help lists what it takes
            raise ArgumentError(f"lossbench {args.command}: unrecognized arguments: {' '.join(unknown)} "
                                f"(`lossbench {args.command} --help` lists the arguments)")
        status = args.func(args) or 0
        if not status and getattr(args, "benchmark", None):
            from .provenance import write_benchmark

            write_benchmark(args.benchmark)
        return status
    except LossbenchError as exc:  # a user's mistake: one line; anything else is a bug and keeps its traceback
        logging.getLogger("lossbench").error("%s", " ".join(str(exc).split("\n")))
        return getattr(exc, "exit_status", 1)


if __name__ == "__main__":
    sys.exit(main())
