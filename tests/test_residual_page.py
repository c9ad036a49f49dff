"""The why page's "The residual factor" rendered end to end on a tiny real run: the default scenario's tables
(tests/scenarios.py) and a probe of a tiny real run on synthetic data, gathered by ``lossbench gather-probe``.
What the section says is checked on constructed tables (tests/test_residual.py); here, that it runs."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import synthetic_data
from lossbench import probe, report
from lossbench.config import TrainConfig
from scenarios import gathered, scenario

NOTEBOOKS = Path(__file__).resolve().parents[1] / "reports" / "notebooks"


def test_the_why_page_renders_the_residual_factor(tmp_path):
    s = scenario("default")
    tables = {k: v for k, v in gathered(s, tmp_path / "tables").items() if not k.endswith("_summary_csv")}
    cfg = TrainConfig(variant="mse_softmax", loss="mse_softmax", seed=0, lr=0.5, train_size=200, val_size=50,
                      hidden=(16,), batch_size=50, epochs=2)
    probe.run_probe(cfg, synthetic_data(), "cross_entropy", points_per_epoch=2, probe_size=20,
                    out=tmp_path / "probe" / "probe.csv")
    probe.gather([tmp_path / "probe" / "probe.csv"], tmp_path / "tables")
    parameters = {**tables, "title": "Why", "reference": "cross_entropy", "reference_loss": "",
                  "slow_loss": "mse_softmax", "lr_study_reference": "cross_entropy", "plateau_window": 2,
                  "probe_csv": str(tmp_path / "tables" / "probe.csv"), "probe_loss": "mse_softmax"}
    out = tmp_path / "why.html"
    report.render(NOTEBOOKS / "why_mse.py", out, parameters, "Why")
    html = out.read_text()
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Traceback" not in page and not re.search(r"\bnan\b", page, re.I)
    section = page[page.index("The residual factor"):page.index("Mean max-softmax probability on the validation set")]
    assert "On one network ( mse_softmax trained at lr 0.5, seed 0" in section, section[:2000]
    assert "over the declared scale, averages" in section and "Together they ask for" in section
    assert html[html.index("The residual factor"):html.index("Mean max-softmax probability")].count("<img") == 1
    assert 'alt="Three panels against the probed epoch of mse_softmax' in html
    # off: the section says so and draws nothing
    report.render(NOTEBOOKS / "why_mse.py", out, {**parameters, "probe_csv": ""}, "Why")
    assert "The probe (config probe: ) is off" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", out.read_text()))
