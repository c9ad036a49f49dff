"""Materialise a dataset as verified tensors: ``lossbench data --dataset mnist --out DIR``.

Source: a local mirror folder holding the four original ``.gz`` files (``--mirror``, or the
environment variable ``LOSSBENCH_DATA_MIRROR`` when set and not empty; a relative path is made
absolute once), else torchvision's own download (a failed download says how to give a mirror). Every file
is checked against pinned SHA-256 values before use; any problem raises one ``DataError``
that names the file, the expected and the actual hash. Work happens in a temporary folder
beside the output (``.<out>-tmp-<host>-<pid>-*``), so a failure leaves nothing behind, and a
later data step removes the folder of one that was killed (its process gone). A ``data.pt``
whose content would not change is kept as it is, mtime included.

Output (what training reads, without importing torchvision):
    DIR/data.pt        uint8 images [N, 28, 28] and int64 labels, train and test
    DIR/manifest.json  dataset, source, SHA-256 of every verified file, data.pt's SHA-256
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from .atomic import host_tag, process_alive, sha256_file
from .errors import LossbenchError

log = logging.getLogger(__name__)

MIRROR_ENV = "LOSSBENCH_DATA_MIRROR"


class DataError(LossbenchError):
    """Bad or missing input data; the message says which file, what was expected and found."""


class UnsafeDataError(DataError, pickle.UnpicklingError):
    """A data file holding more than tensors: refused, never unpickled."""


@dataclass(frozen=True)
class DataFile:
    name: str  # the .gz file name, as in the original distribution
    sha256_gz: str | None  # the original .gz file (a byte-identical copy passes fast); None: not pinned
    sha256_raw: str  # its uncompressed content (a re-compressed copy passes too)

    def expected(self) -> str:
        if self.sha256_gz:
            return f"SHA-256 {self.sha256_gz} (uncompressed {self.sha256_raw})"
        return f"uncompressed SHA-256 {self.sha256_raw}"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str  # how reports name it
    classes: tuple[str, ...]  # label i's name
    target_val_accuracy: float  # "epochs to target" in the tables: a level good runs reach in the default sweep
    torchvision_class: str  # class in torchvision.datasets that reads the raw files
    files: tuple[DataFile, ...]
    n_train: int = 60_000  # images in its training set (train_size + val_size are drawn from them)


# Pinned from ../shared/data/mnist/SHA256SUMS (byte-identical to the original release).
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        classes=tuple("0123456789"),
        target_val_accuracy=0.90,
        torchvision_class="MNIST",
        n_train=60_000,
        files=(
            DataFile(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            ),
            DataFile(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ),
            DataFile(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            ),
            DataFile(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        ),
    ),
    # Fashion-MNIST (Zalando): pinned on the uncompressed files, so the original .gz files
    # (torchvision's download) and Debian's re-compressed copies (package
    # dataset-fashion-mnist, /usr/share/datasets/fashion-mnist/) both pass.
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        title="Fashion-MNIST",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
        target_val_accuracy=0.75,  # the default sweep: cross-entropy passes it in epoch 4 (0.80 after 5)
        torchvision_class="FashionMNIST",
        n_train=60_000,
        files=(
            DataFile("train-images-idx3-ubyte.gz", None,
                     "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            DataFile("train-labels-idx1-ubyte.gz", None,
                     "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            DataFile("t10k-images-idx3-ubyte.gz", None,
                     "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            DataFile("t10k-labels-idx1-ubyte.gz", None,
                     "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        ),
    ),
}


# The images of each label (0 .. 9) in each dataset's training set, pinned like its files (tests/
# test_studies_config.py counts them in the files): what a run on the first C classes draws its training and
# validation images from (the classes study, config classes_study:).
TRAIN_IMAGES_PER_LABEL: dict[str, tuple[int, ...]] = {
    "mnist": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "fashion_mnist": (6000,) * 10,
}


def class_train_images(dataset: str, classes: int) -> int:
    """How many images of labels 0 .. ``classes`` - 1 ``dataset``'s training set holds (12,665 for MNIST's 0 and 1)."""
    return sum(TRAIN_IMAGES_PER_LABEL[dataset][:classes])


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_file(path: Path, spec: DataFile) -> tuple[bytes, str]:
    """Return the uncompressed content of ``path`` and the file's SHA-256, after checking it against ``spec``.

    A byte-identical original passes on its .gz hash; any other file must decompress
    cleanly to content with the pinned uncompressed hash.
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected {spec.name}, {spec.expected()})")
    blob = path.read_bytes()
    actual_gz = sha256_bytes(blob)
    try:
        raw = gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as exc:
        kind = "truncated gzip file" if isinstance(exc, EOFError) else "not a gzip file"
        raise DataError(f"{path}: {kind} ({exc}); expected {spec.expected()}, found SHA-256 {actual_gz}") from None
    if actual_gz == spec.sha256_gz:
        return raw, actual_gz
    actual_raw = sha256_bytes(raw)
    if actual_raw != spec.sha256_raw:
        raise DataError(
            f"{path}: wrong checksum; expected {spec.expected()}, found SHA-256 {actual_gz} (uncompressed {actual_raw})"
            + _belongs_to_other_dataset(actual_raw)
        )
    log.info("%s: re-compressed copy, uncompressed content verified", path)
    return raw, actual_gz


def _belongs_to_other_dataset(raw_sha: str) -> str:
    """A hint when a file is another registered dataset's (a mirror of the wrong dataset)."""
    for other in DATASETS.values():
        for f in other.files:
            if f.sha256_raw == raw_sha:
                return (f"; that is {other.title}'s {f.name}: is {MIRROR_ENV} / data_mirror the "
                        f"mirror of '{other.name}' rather than of the dataset this run asks for?")
    return ""


def resolve_mirror(mirror: str | os.PathLike | None) -> Path | None:
    """The mirror folder to use, as an absolute path; None: download with torchvision.

    ``$LOSSBENCH_DATA_MIRROR`` overrides the argument when it is set and not empty (an empty
    value counts as unset, so ``LOSSBENCH_DATA_MIRROR= cmd`` never hides a configured mirror).
    A relative path is taken from the current directory, once, here.
    """
    chosen = _env_mirror() or mirror
    if chosen is None or not str(chosen).strip():
        return None
    return Path(os.path.abspath(Path(chosen).expanduser()))


def _env_mirror() -> str | None:
    value = os.environ.get(MIRROR_ENV)
    return value if value and value.strip() else None


def _mirror_origin(mirror: Path) -> str:
    """Where the mirror path came from, as the user wrote it (for messages)."""
    given = _env_mirror()
    if given is not None:
        return f"{MIRROR_ENV}={given!r}"
    return f"data_mirror / --mirror, resolved to {mirror}"


def export_mirror(config_mirror: str | None, start_dir: str | None = None) -> str | None:
    """Set ``$LOSSBENCH_DATA_MIRROR`` for the workflow's data jobs, once, as an absolute path.

    Called when Snakemake reads the workflow. ``$LOSSBENCH_DATA_MIRROR``, when set and not
    empty, wins; a relative value is taken from the directory snakemake was started from
    (``$PWD`` as the shell set it, else the current directory). Otherwise the config's
    ``data_mirror``; a relative one is taken from the workflow's working directory (the
    current directory here), like every other path of the workflow. Neither: the variable is
    removed (an empty one too) and the data job downloads. Returns the mirror used.
    """
    given = _env_mirror()
    if given is not None:
        pwd = os.environ.get("PWD")
        base = start_dir or (pwd if pwd and os.path.isabs(pwd) and os.path.isdir(pwd) else os.getcwd())
        chosen = os.path.abspath(os.path.join(base, os.path.expanduser(given)))
    elif config_mirror is not None and str(config_mirror).strip():
        chosen = os.path.abspath(os.path.expanduser(str(config_mirror)))
    else:
        os.environ.pop(MIRROR_ENV, None)
        return None
    os.environ[MIRROR_ENV] = chosen
    return chosen


HOW_TO_GIVE_A_MIRROR = (
    f"give a folder holding the four original .gz files instead: {MIRROR_ENV}=/path/to/folder, "
    "the config key data_mirror, or 'lossbench data --mirror /path/to/folder'"
)


def _download(spec: DatasetSpec, raw_dir: Path) -> None:
    """torchvision's download of the .gz files into ``raw_dir``; a failure is a DataError saying what to do."""
    from torchvision import datasets

    try:
        # torchvision downloads the .gz files into raw_dir (and checks its own md5)
        getattr(datasets, spec.torchvision_class)(root=str(raw_dir.parent.parent), download=True)
    except (RuntimeError, OSError) as exc:  # URLError, timeouts, "Error downloading ...: Tried ..."
        reason = " ".join(str(exc).split())
        raise DataError(
            f"could not download {spec.title} with torchvision ({reason[:400]}); offline or behind a "
            f"firewall, {HOW_TO_GIVE_A_MIRROR}"
        ) from None


def _fetch_raw_files(spec: DatasetSpec, mirror: Path | None, raw_dir: Path) -> dict[str, str]:
    """Put verified, uncompressed files into torchvision's raw folder; return their hashes."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    names = ", ".join(f.name for f in spec.files)
    if mirror is None:
        _download(spec, raw_dir)
        sources = {f.name: raw_dir / f.name for f in spec.files}
    else:
        if mirror.exists() and not mirror.is_dir():
            raise DataError(
                f"data mirror {mirror} is a file, not a folder ({_mirror_origin(mirror)}); the mirror is "
                f"the folder holding {names}" + (f", e.g. {mirror.parent}" if mirror.name in names else "")
                + f". Set {MIRROR_ENV} or the config key data_mirror to that folder, or unset both to download."
            )
        if not mirror.is_dir():
            raise DataError(
                f"data mirror folder {mirror} does not exist ({_mirror_origin(mirror)}); it must hold "
                f"{names}. Set {MIRROR_ENV} or the config key "
                "data_mirror to the folder that has them, or unset both to download."
            )
        sources = {f.name: mirror / f.name for f in spec.files}
        missing = [str(p) for p in sources.values() if not p.is_file()]
        if missing:
            raise DataError(
                f"data mirror {mirror} lacks {', '.join(missing)}; copy the original files "
                f"there, point {MIRROR_ENV} / data_mirror elsewhere, or unset both to download "
                f"(mirror from {_mirror_origin(mirror)})."
            )
    hashes = {}
    for f in spec.files:
        raw, file_sha = verify_file(sources[f.name], f)
        (raw_dir / f.name.removesuffix(".gz")).write_bytes(raw)
        hashes[f.name] = file_sha
        hashes[f.name.removesuffix(".gz")] = f.sha256_raw
    return hashes


def _temp_prefix(name: str) -> str:
    """``.<name>-tmp-<host>-<pid>-``: whose temporary folder it is, so a later run can tell a dead one's."""
    return f".{name}-tmp-{host_tag()}-{os.getpid()}-"


TEMP_DIR = re.compile(r"\.(?P<name>.+)-tmp-(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)-[a-z0-9_]{8}")
OLD_TEMP_DIR = re.compile(r"\.(?P<name>.+)-tmp-[a-z0-9_]{8}")  # before the pid was in the name
OLD_TEMP_AGE = 3600  # seconds: an old-style temp folder untouched this long belongs to no live run


def remove_stale_temp_folders(parent: Path) -> list[Path]:
    """Remove the temporary folders that killed data steps left in ``parent``; return them.

    A folder is stale when the process named in it (same host) is gone; one of another host is
    left alone (its process may still run there, on a shared file system), and an old-style one
    (no pid in its name) only when untouched for an hour. A live concurrent run keeps its folder.
    """
    removed = []
    if not parent.is_dir():
        return removed
    host = host_tag()
    for path in parent.iterdir():
        if not path.is_dir() or path.is_symlink():
            continue
        new, old = TEMP_DIR.fullmatch(path.name), OLD_TEMP_DIR.fullmatch(path.name)
        if new:
            if new["host"] != host:
                log.info("%s: temporary folder of a data step on host %s; left alone", path, new["host"])
                continue
            stale = not process_alive(int(new["pid"]))
        elif old:
            stale = time.time() - path.stat().st_mtime > OLD_TEMP_AGE
        else:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            log.info("removed %s, left by an earlier data step that was killed", path)
            removed.append(path)
    return removed


def prepare(dataset: str, out_dir: str | os.PathLike, mirror: str | None = None) -> dict:
    """Verify ``dataset`` and write ``data.pt`` + ``manifest.json`` into ``out_dir``.

    An existing ``data.pt`` with the same SHA-256 as the new one is kept as it is (file and
    mtime): rerunning the data step changes nothing that training depends on unless the data
    changed. Temporary folders of earlier data steps that were killed are removed first.
    """
    import torch
    import torchvision
    from torchvision import datasets

    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(DATASETS))}")
    spec = DATASETS[dataset]
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_folders(out_dir.parent)
    source = resolve_mirror(mirror)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(out_dir.name), dir=out_dir.parent))
    replaced = False
    try:
        raw_dir = tmp / "torchvision" / spec.torchvision_class / "raw"
        hashes = _fetch_raw_files(spec, source, raw_dir)
        cls = getattr(datasets, spec.torchvision_class)
        train = cls(root=str(tmp / "torchvision"), train=True, download=False)
        test = cls(root=str(tmp / "torchvision"), train=False, download=False)
        tensors = {
            "train_images": train.data.contiguous(),
            "train_labels": train.targets.long(),
            "test_images": test.data.contiguous(),
            "test_labels": test.targets.long(),
        }
        torch.save(tensors, tmp / "data.pt")
        data_sha = sha256_file(tmp / "data.pt")
        manifest = {
            "dataset": dataset,
            "source": str(source) if source else "torchvision download",
            "torchvision": torchvision.__version__,
            "files_sha256": hashes,
            "data_pt_sha256": data_sha,
            "n_train": len(train),
            "n_test": len(test),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        out_dir.mkdir(exist_ok=True)
        old = out_dir / "data.pt"
        if old.is_file() and sha256_file(old) == data_sha:
            log.info("%s: unchanged (SHA-256 %s); kept as it was", old, data_sha)
        else:
            replaced = True
            os.replace(tmp / "data.pt", old)
        os.replace(tmp / "manifest.json", out_dir / "manifest.json")  # manifest last: it marks completion
    except BaseException:
        if replaced:  # data.pt and manifest.json may disagree: neither stays
            for name in ("data.pt", "manifest.json"):
                (out_dir / name).unlink(missing_ok=True)
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: %d train / %d test images from %s", dataset, len(train), len(test), manifest["source"])
    return manifest


# What training reads from data.pt: name -> (dtype, dimensions)
TENSORS = {
    "train_images": ("torch.uint8", 3),
    "train_labels": ("torch.int64", 1),
    "test_images": ("torch.uint8", 3),
    "test_labels": ("torch.int64", 1),
}
N_CLASSES = 10  # labels are 0 .. 9 in every registered dataset (the network has 10 outputs)


def load(path: str | os.PathLike) -> dict:
    """The tensors written by ``prepare`` (plain tensors: safe ``weights_only`` load), checked.

    A file that is not a tensor file, holds anything but plain tensors (refused for safety,
    without running it), lacks or adds keys, or has tensors of the wrong type, shape or label
    range raises one DataError naming the file.
    """
    import zipfile

    import torch

    written_by = "expected data.pt written by 'lossbench data'"
    if not Path(path).is_file():
        what = "a folder, not a file" if Path(path).is_dir() else "data file not found"
        raise DataError(f"{path}: {what} ({written_by})")
    try:
        tensors = torch.load(path, weights_only=True)
    except pickle.UnpicklingError as exc:
        if re.search(r"Unsupported (global|class)|GLOBAL", str(exc)):  # objects the safe load refused
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
            raise UnsafeDataError(
                f"{path}: refused for safety: it holds pickled objects{f' ({found[1]})' if found else ''}, "
                f"not only tensors, and loading them could run code ({written_by})") from None
        # anything else (say "Unsupported operand": a text file) is no torch.save file at all
        raise DataError(f"{path}: not a tensor file (not in torch.save's format; {written_by})") from None
    except (RuntimeError, EOFError, ValueError, KeyError, zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
        # a text file gives KeyError, an empty one EOFError, a truncated one RuntimeError
        raise DataError(f"{path}: not a tensor file ({_first_line(exc)}; {written_by})") from None
    _check_tensors(path, tensors, written_by)
    return tensors


def _first_line(exc: BaseException) -> str:
    """torch.load's complaint, short: its first sentence, or what a bare KeyError / EOFError means."""
    if isinstance(exc, KeyError):
        return "not in torch.save's format"
    if isinstance(exc, EOFError):
        return "empty or cut short"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0].split('. ')[0][:200]}" if text else type(exc).__name__


def _check_tensors(path, tensors, written_by: str) -> None:
    import torch

    if not isinstance(tensors, dict):
        raise DataError(f"{path}: expected a mapping of tensors {', '.join(TENSORS)}, found a "
                        f"{type(tensors).__name__} ({written_by})")
    missing, extra = [k for k in TENSORS if k not in tensors], [str(k) for k in tensors if k not in TENSORS]
    if missing or extra:
        raise DataError(f"{path}: wrong keys: expected {', '.join(TENSORS)}; "
                        + "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                                  extra and f"unexpected {', '.join(extra)}"]))
                        + f" ({written_by})")
    for key, (dtype, ndim) in TENSORS.items():
        value = tensors[key]
        if not isinstance(value, torch.Tensor):
            raise DataError(f"{path}: {key}: expected a tensor, found {type(value).__name__}")
        if str(value.dtype) != dtype or value.dim() != ndim:
            raise DataError(f"{path}: {key}: expected a {ndim}-D {dtype} tensor, found {value.dim()}-D "
                            f"{value.dtype} of shape {list(value.shape)}")
    for split in ("train", "test"):
        images, labels = tensors[f"{split}_images"], tensors[f"{split}_labels"]
        if len(images) == 0 or len(images) != len(labels):
            raise DataError(f"{path}: {split}: expected as many labels as images (at least one), found "
                            f"{len(images)} images and {len(labels)} labels")
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= N_CLASSES:
            bad = int(((labels < 0) | (labels >= N_CLASSES)).sum())
            raise DataError(f"{path}: {split}_labels: expected classes 0 .. {N_CLASSES - 1}, found "
                            f"{low} .. {high} ({bad} label(s) out of range)")


def checksums(data_pt: str | os.PathLike) -> dict | None:
    """SHA-256 of data.pt and of the files it was made from, from the manifest beside it."""
    manifest = Path(data_pt).with_name("manifest.json")
    if not manifest.is_file():
        return None
    record = json.loads(manifest.read_text())
    return {"data.pt": record["data_pt_sha256"], **record["files_sha256"]}
