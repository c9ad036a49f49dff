"""Data verification: good mirrors pass, every bad input gives one clear error and leaves nothing."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest
import torch

from helpers import corrupt_checksum
from lossbench import cli, data


def listing(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) if path.exists() else []


def test_prepare_from_mirror_writes_verified_tensors(tiny_mirror, tmp_path):
    out = tmp_path / "resources" / "data" / "mnist"
    manifest = data.prepare("mnist", out, mirror=str(tiny_mirror))
    tensors = data.load(out / "data.pt")
    assert tensors["train_images"].shape == (300, 28, 28) and tensors["train_images"].dtype == torch.uint8
    assert tensors["test_labels"].shape == (100,) and tensors["test_labels"].dtype == torch.int64
    assert manifest == json.loads((out / "manifest.json").read_text())
    files = data.DATASETS["mnist"].files
    assert manifest["files_sha256"] == {f.name: f.sha256_gz for f in files} | {
        f.name.removesuffix(".gz"): f.sha256_raw for f in files}
    assert listing(tmp_path / "resources") == ["data", "data/mnist", "data/mnist/data.pt", "data/mnist/manifest.json"]


def test_recompressed_copy_passes_on_content(tiny_mirror, tmp_path):
    f = data.DATASETS["mnist"].files[1]
    path = tiny_mirror / f.name
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1, mtime=12345))
    assert data.verify_file(path, f) == (gzip.decompress(path.read_bytes()), data.sha256_bytes(path.read_bytes()))


def test_environment_variable_overrides_the_config_key(tiny_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv(data.MIRROR_ENV, str(tiny_mirror))
    manifest = data.prepare("mnist", tmp_path / "out", mirror=str(tmp_path / "nowhere"))
    assert manifest["source"] == str(tiny_mirror)


def test_cli_exits_nonzero_with_one_line_naming_the_file(tiny_mirror, tmp_path, capsys):
    path = tiny_mirror / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"junk")
    assert cli.main(["data", "--out", str(tmp_path / "out"), "--mirror", str(tiny_mirror)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and str(path) in errors[0] and "not a gzip file" in errors[0]
    assert not (tmp_path / "out").exists()


@pytest.fixture
def http_mirror(real_mirror):
    """The real mirror served over HTTP on loopback, standing in for torchvision's servers."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(real_mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_path_verifies_what_torchvision_fetched(http_mirror, tmp_path, monkeypatch):
    """No mirror: torchvision downloads the files, and they are verified like a mirror's."""
    from torchvision import datasets

    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    monkeypatch.setattr(datasets.MNIST, "mirrors", [http_mirror])
    manifest = data.prepare("mnist", tmp_path / "out")
    assert manifest["source"] == "torchvision download"
    assert manifest["n_train"] == 60000 and manifest["n_test"] == 10000


def test_real_mnist_pins_match_the_mirror(real_mirror):
    for f in data.DATASETS["mnist"].files:
        assert data.sha256_bytes((real_mirror / f.name).read_bytes()) == f.sha256_gz


def test_debian_fashion_mnist_verifies_on_its_uncompressed_content(fashion_mirror, tmp_path, monkeypatch):
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    manifest = data.prepare("fashion_mnist", tmp_path / "fashion_mnist", mirror=str(fashion_mirror))
    tensors = data.load(tmp_path / "fashion_mnist" / "data.pt")
    assert manifest["n_train"] == 60000 and tensors["test_images"].shape == (10000, 28, 28)
    assert manifest["files_sha256"]["t10k-labels-idx1-ubyte"] == data.DATASETS["fashion_mnist"].files[3].sha256_raw


def test_a_dataset_pinned_only_on_content_names_that_hash_in_errors(tiny_mirror, tmp_path, monkeypatch):
    spec = data.DATASETS["mnist"]
    content_only = dataclasses.replace(spec, files=tuple(data.DataFile(f.name, None, f.sha256_raw) for f in spec.files))
    monkeypatch.setitem(data.DATASETS, "mnist", content_only)
    data.prepare("mnist", tmp_path / "ok", mirror=str(tiny_mirror))  # the content matches: passes
    corrupt_checksum(tiny_mirror / spec.files[0].name)
    with pytest.raises(data.DataError, match=f"expected uncompressed SHA-256 {spec.files[0].sha256_raw}"):
        data.prepare("mnist", tmp_path / "bad", mirror=str(tiny_mirror))


# --- the mirror: where it is, what it is ---------------------------------------------------------

def test_an_empty_mirror_variable_counts_as_unset(tiny_mirror, tmp_path, monkeypatch):
    for empty in ("", "  "):
        monkeypatch.setenv(data.MIRROR_ENV, empty)
        assert data.resolve_mirror(str(tiny_mirror)) == tiny_mirror
        assert data.resolve_mirror(None) is None  # then, and only then, torchvision downloads


def test_a_relative_mirror_is_made_absolute_once(tiny_mirror, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_mirror.parent)
    assert data.resolve_mirror("mirror") == tiny_mirror
    monkeypatch.setenv(data.MIRROR_ENV, "mirror")
    manifest = data.prepare("mnist", tmp_path / "out", mirror=None)
    assert manifest["source"] == str(tiny_mirror)
    monkeypatch.setenv(data.MIRROR_ENV, "./nowhere/../nowhere")
    with pytest.raises(data.DataError, match=f"data mirror folder {tmp_path}/nowhere does not exist"):
        data.prepare("mnist", tmp_path / "out2")


def test_export_mirror_for_the_workflow(tmp_path, monkeypatch):
    start, workdir = tmp_path / "start", tmp_path / "work"
    start.mkdir()
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # Snakemake's working directory
    monkeypatch.setenv("PWD", str(start))  # where the shell started snakemake
    monkeypatch.setenv(data.MIRROR_ENV, "m")
    assert data.export_mirror("from/config") == str(start / "m") == os.environ[data.MIRROR_ENV]
    monkeypatch.setenv(data.MIRROR_ENV, "")  # empty: the config's key applies, from the working directory
    assert data.export_mirror("from/config") == str(workdir / "from" / "config") == os.environ[data.MIRROR_ENV]
    monkeypatch.setenv(data.MIRROR_ENV, "")
    assert data.export_mirror(None) is None and data.MIRROR_ENV not in os.environ
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "abs"))
    assert data.export_mirror("from/config") == str(tmp_path / "abs")


@pytest.mark.parametrize("target", ["train-images-idx3-ubyte.gz", "notes.txt"])
def test_a_mirror_that_is_a_file_says_so(tiny_mirror, tmp_path, target):
    path = tiny_mirror / target
    path.touch()
    with pytest.raises(data.DataError, match=f"data mirror {path} is a file, not a folder") as err:
        data.prepare("mnist", tmp_path / "out", mirror=str(path))
    assert (f"e.g. {tiny_mirror}" in str(err.value)) == target.endswith(".gz")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out-tmp-*"))


def test_a_failed_download_says_how_to_give_a_mirror(tmp_path, monkeypatch):
    from torchvision import datasets

    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # refused at once, as offline
    with pytest.raises(data.DataError) as err:
        data.prepare("mnist", tmp_path / "out")
    message = str(err.value)
    assert message.startswith("could not download MNIST with torchvision (Error downloading")
    assert f"{data.MIRROR_ENV}=/path/to/folder" in message and "data_mirror" in message and "--mirror" in message
    assert "\n" not in message and listing(tmp_path) == []


# --- rerunning the data step, and what a killed one left -----------------------------------------

def test_an_unchanged_data_pt_is_kept_with_its_mtime(tiny_mirror, tmp_path):
    out = tmp_path / "out"
    data.prepare("mnist", out, mirror=str(tiny_mirror))
    data_pt = out / "data.pt"
    os.utime(data_pt, ns=(1_000_000_000, 1_000_000_000))
    inode = data_pt.stat().st_ino
    (out / "manifest.json").unlink()
    manifest = data.prepare("mnist", out, mirror=str(tiny_mirror))
    assert data_pt.stat().st_mtime_ns == 1_000_000_000 and data_pt.stat().st_ino == inode
    assert manifest["data_pt_sha256"] == data.sha256_file(data_pt)
    assert json.loads((out / "manifest.json").read_text()) == manifest

    data_pt.write_bytes(b"other content")  # changed content: replaced
    data.prepare("mnist", out, mirror=str(tiny_mirror))
    assert data.sha256_file(data_pt) == manifest["data_pt_sha256"] and data_pt.stat().st_mtime_ns != 1_000_000_000


def test_a_failed_rerun_keeps_the_previous_data(tiny_mirror, tmp_path):
    out = tmp_path / "out"
    data.prepare("mnist", out, mirror=str(tiny_mirror))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(data.DataError):
        data.prepare("mnist", out, mirror=str(tmp_path / "nowhere"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_stale_temp_folders_are_removed_and_live_ones_kept(tiny_mirror, tmp_path):
    parent = tmp_path / "resources" / "data"
    parent.mkdir(parents=True)
    host = data.host_tag()
    dead = [parent / f".mnist-tmp-{host}-{dead_pid()}-a1b2c3d4",
            parent / f".fashion_mnist-tmp-{host}-{dead_pid()}-zz_9zz9z",
            parent / ".mnist-tmp-k2j3h4g5"]  # the last: an old-style name, untouched for two hours
    kept = [parent / f".mnist-tmp-{host}-{os.getpid()}-qwertyui",  # a live concurrent step (this process)
            parent / ".mnist-tmp-otherhost-1-qwertyui",  # another host's, maybe running there
            parent / ".mnist-tmp-abcdefgh",  # old-style, but touched just now
            parent / "mnist-tmp-notours"]
    for path in dead + kept:
        (path / "torchvision").mkdir(parents=True)
    (parent / f".mnist-tmp-{host}-{dead_pid()}-abcdefgh.txt").write_text("a file, not ours")
    os.utime(dead[2], (time.time() - 7200, time.time() - 7200))
    data.prepare("mnist", parent / "mnist", mirror=str(tiny_mirror))
    assert not any(path.exists() for path in dead)
    assert all(path.exists() for path in kept)
    assert data.remove_stale_temp_folders(parent) == [] and data.remove_stale_temp_folders(tmp_path / "none") == []


# --- data.load: only data.pt as lossbench data writes it ------------------------------------------

def test_load_checks_the_tensors(tiny_mirror, tmp_path):
    data.prepare("mnist", tmp_path / "out", mirror=str(tiny_mirror))
    tensors = data.load(tmp_path / "out" / "data.pt")
    assert set(tensors) == set(data.TENSORS)
    for key, change, words in [
        ("extra", torch.zeros(1), "unexpected extra"),
        ("train_labels", [1, 2], "train_labels: expected a tensor, found list"),
        ("test_images", torch.zeros(100, 784, dtype=torch.uint8), "expected a 3-D torch.uint8 tensor, found 2-D"),
        ("test_labels", torch.zeros(100, dtype=torch.int32), "test_labels: expected a 1-D torch.int64"),
        ("train_images", torch.zeros(0, 28, 28, dtype=torch.uint8), "expected as many labels as images (at least one)"),
    ]:
        torch.save({**tensors, key: change}, tmp_path / "bad.pt")
        with pytest.raises(data.DataError, match=re.escape(words)):
            data.load(tmp_path / "bad.pt")
    with pytest.raises(data.DataError, match="a folder, not a file"):
        data.load(tmp_path)


def test_every_dataset_has_as_many_classes_as_the_network_has_outputs():
    assert all(len(spec.classes) == data.N_CLASSES and spec.n_train == 60_000 for spec in data.DATASETS.values())
