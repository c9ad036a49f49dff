"""Materialise a dataset as verified tensors: ``lossbench data --dataset mnist --out DIR``.

Source: a local mirror folder holding the four original ``.gz`` files (``--mirror``, or the
environment variable ``LOSSBENCH_DATA_MIRROR``), else torchvision's own download. Every file
is checked against pinned SHA-256 values before use; any problem raises one ``DataError``
that names the file, the expected and the actual hash. Work happens in a temporary folder
beside the output, so a failure leaves nothing behind.

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
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .errors import LossbenchError

log = logging.getLogger(__name__)

MIRROR_ENV = "LOSSBENCH_DATA_MIRROR"


class DataError(LossbenchError):
    """Bad or missing input data; the message says which file, what was expected and found."""


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


# Pinned from ../shared/data/mnist/SHA256SUMS (byte-identical to the original release).
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        classes=tuple("0123456789"),
        target_val_accuracy=0.90,
        torchvision_class="MNIST",
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
    """The mirror folder to use: ``$LOSSBENCH_DATA_MIRROR`` overrides the argument."""
    chosen = os.environ.get(MIRROR_ENV) or mirror
    return Path(chosen).expanduser() if chosen else None


def _fetch_raw_files(spec: DatasetSpec, mirror: Path | None, raw_dir: Path) -> dict[str, str]:
    """Put verified, uncompressed files into torchvision's raw folder; return their hashes."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    if mirror is None:
        from torchvision import datasets

        # torchvision downloads the .gz files into raw_dir (and checks its own md5).
        getattr(datasets, spec.torchvision_class)(root=str(raw_dir.parent.parent), download=True)
        sources = {f.name: raw_dir / f.name for f in spec.files}
    else:
        if not mirror.is_dir():
            raise DataError(
                f"data mirror folder {mirror} does not exist; it must hold "
                f"{', '.join(f.name for f in spec.files)}. Set {MIRROR_ENV} or the config key "
                "data_mirror to the folder that has them, or unset both to download."
            )
        sources = {f.name: mirror / f.name for f in spec.files}
        missing = [str(p) for p in sources.values() if not p.is_file()]
        if missing:
            raise DataError(
                f"data mirror {mirror} lacks {', '.join(missing)}; copy the original files "
                f"there, point {MIRROR_ENV} / data_mirror elsewhere, or unset both to download."
            )
    hashes = {}
    for f in spec.files:
        raw, file_sha = verify_file(sources[f.name], f)
        (raw_dir / f.name.removesuffix(".gz")).write_bytes(raw)
        hashes[f.name] = file_sha
        hashes[f.name.removesuffix(".gz")] = f.sha256_raw
    return hashes


def prepare(dataset: str, out_dir: str | os.PathLike, mirror: str | None = None) -> dict:
    """Verify ``dataset`` and write ``data.pt`` + ``manifest.json`` into ``out_dir``."""
    import torch
    import torchvision
    from torchvision import datasets

    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(DATASETS))}")
    spec = DATASETS[dataset]
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    source = resolve_mirror(mirror)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-tmp-", dir=out_dir.parent))
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
        manifest = {
            "dataset": dataset,
            "source": str(source) if source else "torchvision download",
            "torchvision": torchvision.__version__,
            "files_sha256": hashes,
            "data_pt_sha256": sha256_bytes((tmp / "data.pt").read_bytes()),
            "n_train": len(train),
            "n_test": len(test),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        out_dir.mkdir(exist_ok=True)
        for name in ("data.pt", "manifest.json"):  # manifest last: it marks completion
            os.replace(tmp / name, out_dir / name)
    except BaseException:
        for name in ("data.pt", "manifest.json"):
            (out_dir / name).unlink(missing_ok=True)
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: %d train / %d test images from %s", dataset, len(train), len(test), manifest["source"])
    return manifest


def load(path: str | os.PathLike) -> dict:
    """The tensors written by ``prepare`` (plain tensors: safe ``weights_only`` load)."""
    import torch

    if not Path(path).is_file():
        raise DataError(f"{path}: data file not found (expected data.pt written by 'lossbench data')")
    return torch.load(path, weights_only=True)


def checksums(data_pt: str | os.PathLike) -> dict | None:
    """SHA-256 of data.pt and of the files it was made from, from the manifest beside it."""
    manifest = Path(data_pt).with_name("manifest.json")
    if not manifest.is_file():
        return None
    record = json.loads(manifest.read_text())
    return {"data.pt": record["data_pt_sha256"], **record["files_sha256"]}
