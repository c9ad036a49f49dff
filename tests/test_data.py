"""Data verification: good mirrors pass, every bad input gives one clear error and leaves nothing."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import json
import threading

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
