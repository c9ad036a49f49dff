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

Subcommands import their modules lazily, so ``lossbench train`` loads torch and nothing
else heavy (no pandas, seaborn, papermill, snakemake): start-up matters per job.
Logs go to stderr. A user's mistake (``LossbenchError``: bad input, config, data or run folder)
ends with one error line and exit status 1; any other exception is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys


def _add_train_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    from .config import TrainConfig

    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.default is dataclasses.MISSING:
            parser.add_argument(flag, required=True, type=int if f.type == "int" else str)
        elif isinstance(f.default, bool):
            parser.add_argument(flag, type=_boolean, default=f.default, metavar="{true,false}")
        elif isinstance(f.default, tuple):
            parser.add_argument(flag, type=int, nargs="+", default=list(f.default))
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)


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

    train.train(config_from_flags(vars(args)), data.load(args.data), out_dir=args.out_dir,
                data_checksums=data.checksums(args.data))


def cmd_train_seeds(args: argparse.Namespace) -> None:
    from . import data, packed
    from .config import config_from_flags

    configs = [config_from_flags(vars(args), seed=seed) for seed in args.seeds]
    packed.train_seeds(configs, data.load(args.data), out_dir=args.out_dir, data_checksums=data.checksums(args.data))


def cmd_gather(args: argparse.Namespace) -> None:
    from . import tables

    tables.write_tables(args.runs, args.out_dir)


def cmd_report(args: argparse.Namespace) -> None:
    from . import report

    parameters = report.parse_json_arg(args.parameters, "--parameters")
    nav = report.parse_json_arg(args.nav, "--nav")
    report.render(args.notebook, args.out, {**parameters, "title": args.title}, args.title, nav, args.executed_notebook)


def cmd_index(args: argparse.Namespace) -> None:
    from . import report

    report.write_index(args.out, args.title, report.parse_json_arg(args.pages, "--pages"), args.summary)


def cmd_bench(args: argparse.Namespace) -> None:
    from . import bench

    bench.main(args)


def cmd_compare(args: argparse.Namespace) -> int:
    from . import compare

    return compare.main(args.run_a, args.run_b)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lossbench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="verify a dataset and write data.pt + manifest.json")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--out", required=True, help="output folder, e.g. resources/data/mnist")
    p.add_argument("--mirror", default=None, help="folder holding the original .gz files "
                   "($LOSSBENCH_DATA_MIRROR overrides); omitted: torchvision downloads them")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train one (variant, seed) run")
    _add_train_flags(p)
    p.add_argument("--data", required=True, help="data.pt written by 'lossbench data'")
    p.add_argument("--out-dir", required=True, help="run folder for metrics.json, history.csv, model.pt")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("train-seeds", help="train several seeds of one variant together (one process, stacked)")
    _add_train_flags(p, skip=("seed",))
    p.add_argument("--seeds", type=int, nargs="+", required=True, help="seeds to train, e.g. 0 1 2 3 4")
    p.add_argument("--data", required=True, help="data.pt written by 'lossbench data'")
    p.add_argument("--out-dir", required=True, help="variant folder: each seed writes OUT_DIR/seed-<s>/")
    p.set_defaults(func=cmd_train_seeds)

    p = sub.add_parser("gather", help="collect runs into runs.csv, epochs.csv, summary.csv")
    p.add_argument("--runs", nargs="+", required=True, help="metrics.json files (history.csv beside each)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_gather)
    p = sub.add_parser("report", help="execute one notebook page (papermill) and write it as HTML")
    p.add_argument("--notebook", required=True, help="jupytext .py source, e.g. reports/notebooks/comparison.py")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--title", required=True, help="page title (shown literally)")
    p.add_argument("--parameters", default="{}", help="JSON object of notebook parameters")
    p.add_argument("--nav", default="[]", help='JSON list of {"href", "title"} links for the top bar')
    p.add_argument("--executed-notebook", default=None, metavar="IPYNB",
                   help="keep papermill's executed notebook here (written also when a cell fails)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("index", help="write index.html linking every page")
    p.add_argument("--out", required=True)
    p.add_argument("--title", required=True)
    p.add_argument("--pages", required=True, help='JSON list of {"href", "title", "description"}')
    p.add_argument("--summary", required=True, help="summary.csv for the headline table")
    p.set_defaults(func=cmd_index)
    p = sub.add_parser("bench", help="time training against the notebook's DataLoader loop (and the CUDA-graph floor)")
    p.add_argument("--data", default="resources/data/mnist/data.pt", help="data.pt written by 'lossbench data'")
    p.add_argument("--loss", default="cross_entropy")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per method (after one warm-up run)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--startup", action="store_true", help="also time process start-up against 'import torch'")
    p.add_argument("--packed", type=int, default=0, metavar="N",
                   help="also train seeds 0..N-1 packed in one process (lossbench train-seeds) and time it")
    p.add_argument("--json", default=None, help="write the figures, device and versions here")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("compare", help="check two run folders are bit-identical (but for wall-clock timings)")
    p.add_argument("run_a", help="run folder (metrics.json, history.csv, predictions.csv, model.pt)")
    p.add_argument("run_b")
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .errors import LossbenchError

    try:
        return args.func(args) or 0
    except LossbenchError as exc:  # a user's mistake: one line; anything else is a bug and keeps its traceback
        logging.getLogger("lossbench").error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
