"""environment.yml and pyproject.toml pin the same packages; the train command stays lean."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import yaml

from conftest import ROOT


def test_environment_yml_pins_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e ."} == wanted and "-e ." in pip
    assert all("==" in req for req in wanted), "every dependency is pinned exactly"
    assert "python=3.11" in env["dependencies"]


def test_train_commands_import_no_heavy_library():
    code = (
        "import sys; from lossbench import cli, train, packed, data, config; "
        "heavy = {'pandas', 'seaborn', 'matplotlib', 'papermill', 'snakemake', 'torchvision', 'scipy', "
        "'torch._dynamo'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
