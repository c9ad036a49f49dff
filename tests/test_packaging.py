"""Packaging: environment.yml, requirements.lock and CITATION.cff agree with pyproject.toml; the
license is stated once; ruff is clean; the train command stays lean."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)$")


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pinned() -> set[str]:
    """Every requirement pyproject.toml names: the dependencies and the test extras."""
    return set(project()["dependencies"]) | set(project()["optional-dependencies"]["test"])


def normalize(name: str) -> str:
    """PEP 503 name: pip-compile writes `pyyaml`, pyproject may say `PyYAML`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins() -> dict[str, str]:
    """requirements.lock as {normalized name: version}; fails on any line that is not an exact pin."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"requirements.lock: not an exact `name==version` pin: {line!r}"
        assert normalize(match[1]) not in pins, f"requirements.lock pins {match[1]} twice"
        pins[normalize(match[1])] = match[2]
    return pins


def test_environment_yml_pins_what_pyproject_pins():
    wanted = pinned()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e ."} == wanted and "-e ." in pip
    assert all("==" in req for req in wanted), "every dependency is pinned exactly"
    assert "python=3.11" in env["dependencies"]


def test_lock_pins_every_package_and_agrees_with_pyproject():
    lock = lock_pins()
    for requirement in pinned():
        name, version = requirement.split("==")
        locked = lock.get(normalize(name))
        assert locked == version, f"{requirement} in pyproject.toml, {name}=={locked} in requirements.lock"
    # the transitive dependencies are there too (torch's alone are a dozen), but not the project itself
    assert len(lock) > 2 * len(pinned()) and "lossbench" not in lock


def test_citation_cff_agrees_with_pyproject_and_license():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"] and cff["abstract"] and cff["message"]
    assert cff["version"] == project()["version"]
    assert cff["license"] == project()["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert project()["license-files"] == ["LICENSE"]
    assert cff["authors"] == [{"name": "lossbench contributors"}]
    assert str(cff["date-released"]) == "2026-11-27"


def test_ruff_check_is_clean():
    ruff = BIN / "ruff"
    assert ruff.exists(), "ruff is a test extra: run `make setup`"
    out = subprocess.run([str(ruff), "check", "--no-cache", "--output-format", "concise"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_train_commands_import_no_heavy_library():
    code = (
        "import sys; from lossbench import cli, train, packed, data, config; "
        "heavy = {'pandas', 'seaborn', 'matplotlib', 'papermill', 'snakemake', 'torchvision', 'scipy', "
        "'torch._dynamo'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
