"""The same-network gradient probe (lossbench.probe): the closed-form logit Hessians at uniform outputs
against autograd, the first probe point at z = 0 (norm ratio 1, cosine 1), the trained network equal to
``lossbench train``'s, probe.csv's columns, and the CLI example on tiny data."""

import csv
import math
import shlex

import pytest
import torch

from lossbench import cli, probe, train
from lossbench.config import TrainConfig
from lossbench.losses import get_loss
from lossbench.model import MLP
from lossbench.runfolder import load_state_dict

SLOW, REFERENCE = "mse_softmax", "cross_entropy"


def logit_hessian(loss: str, z: torch.Tensor, label: int) -> torch.Tensor:
    """The per-sample logit Hessian of a registered loss by autograd, float64."""
    fn = get_loss(loss)
    return torch.autograd.functional.hessian(lambda v: fn(v[None], torch.tensor([label])), z)


@pytest.mark.parametrize("classes", [2, 3, 10])
def test_the_uniform_hessians_are_autograds(classes):
    z = torch.full((classes,), 0.7, dtype=torch.float64)  # any z = c1 gives uniform outputs
    for label in range(classes):
        mse = logit_hessian(SLOW, z, label)
        torch.testing.assert_close(mse, probe.mse_softmax_uniform_hessian(classes, label), rtol=1e-10, atol=1e-12)
        ce = logit_hessian(REFERENCE, z, label)
        torch.testing.assert_close(ce, probe.cross_entropy_uniform_hessian(classes, label), rtol=1e-10, atol=1e-12)
        # only the class average matches (2/C^2) x cross-entropy's
        average = sum(probe.mse_softmax_uniform_hessian(classes, y) for y in range(classes)) / classes
        torch.testing.assert_close(average, 2 / classes**2 * ce, rtol=1e-10, atol=1e-12)


def test_the_true_class_curvature_is_the_issues():
    """Along P e_y (unit length), C = 10: MSE on softmax -0.014, (2/C^2) x cross-entropy +0.002."""
    classes, label = 10, 3
    u = probe.centring(classes)[:, label]
    u = u / u.norm()
    assert float(u @ probe.mse_softmax_uniform_hessian(classes, label) @ u) == pytest.approx(-0.014)
    assert float(u @ (2 / classes**2 * probe.cross_entropy_uniform_hessian(classes)) @ u) == pytest.approx(0.002)


def zero_output_model(classes: int = 10, hidden=(16,)) -> MLP:
    torch.manual_seed(0)
    model = MLP(784, hidden, classes=classes)
    with torch.no_grad():
        model.linears[-1].weight.zero_()
        model.linears[-1].bias.zero_()
    return model


@pytest.mark.parametrize("classes", [2, 3, 10])
def test_at_uniform_outputs_the_first_order_account_is_exact(classes):
    """z = 0 for every image: norm ratio 1 and cosine 1 (logit and weight gradients) up to float, any C."""
    model = zero_output_model(classes)
    x, y = torch.rand(40, 784), torch.arange(40) % classes
    scale = probe.matched_scale(SLOW, REFERENCE, classes)
    assert scale == pytest.approx(2 / classes**2)
    row = probe.probe_point(model, x, y, get_loss(SLOW), get_loss(REFERENCE), 0.1, 0.1 * scale, scale)
    assert row["mean_max_prob"] == pytest.approx(1 / classes) and row["max_prob"] == pytest.approx(1 / classes)
    assert row["norm_ratio"] == pytest.approx(1, rel=1e-5)
    assert row["weight_norm_ratio"] == pytest.approx(1, rel=1e-5)
    assert row["logit_cosine"] == pytest.approx(1, abs=1e-6)
    assert row["weight_cosine"] == pytest.approx(1, abs=1e-6)
    assert row["raw_norm_ratio"] == pytest.approx(scale, rel=1e-5)


def test_the_second_order_term_is_the_closed_forms_at_uniform_outputs():
    """With the logit step dz given, second = 1/2 dz^T H dz with H the closed form at z = 0."""
    classes, labels = 10, torch.tensor([2, 7])
    z, dz = torch.zeros(2, classes, dtype=torch.float64), torch.randn(2, classes, dtype=torch.float64)
    for loss, hessian in ((SLOW, probe.mse_softmax_uniform_hessian), (REFERENCE, probe.cross_entropy_uniform_hessian)):
        first, second = probe._second_order(get_loss(loss), z, dz, labels)
        expected = sum(0.5 * dz[i] @ hessian(classes, int(labels[i])) @ dz[i] for i in range(2)) / 2  # batch mean
        assert second == pytest.approx(float(expected), rel=1e-9)
        assert math.isfinite(first)


def test_a_loss_without_declared_scale_is_measured_only():
    model = zero_output_model()
    x, y = torch.rand(20, 784), torch.arange(20) % 10
    row = probe.probe_point(model, x, y, get_loss(SLOW), get_loss(REFERENCE), 0.1, 0.002, None)
    assert math.isnan(row["norm_ratio"]) and math.isnan(row["weight_norm_ratio"])
    assert row["raw_norm_ratio"] == pytest.approx(0.02, rel=1e-5)


def test_the_probe_steps():
    assert probe.probe_steps(4, 2, 10) == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert probe.probe_steps(100, 2, 10) == list(range(0, 201, 10))
    assert probe.probe_steps(7, 1, 2) == [0, 4, 7]  # every ceil(7/2) = 4 steps, and the last


TINY = dict(train_size=200, val_size=50, hidden=(16,), batch_size=50, epochs=2, threads=1)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_probed_run_is_the_trained_run(tiny_data, tmp_path, optimizer):
    """Same split, initial weights, batch order and SGD as lossbench train: the same final weights; the
    probe reads without changing the network."""
    lr = 0.5 if optimizer == "sgd" else 1e-3
    cfg = TrainConfig(variant=SLOW, loss=SLOW, seed=3, lr=lr, classes=3, optimizer=optimizer,
                      **{**TINY, "train_size": 60, "val_size": 20, "batch_size": 15})  # 86 images of labels 0..2
    rows, model = probe.trained_probe(cfg, tiny_data, REFERENCE, points_per_epoch=2, probe_size=30)
    train.train(cfg, tiny_data, out_dir=tmp_path / "run")
    trained = load_state_dict(tmp_path / "run" / "model.pt")
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, trained[name], rtol=0, atol=0)
    assert [r["step"] for r in rows] == [0, 2, 4, 6, 8]  # 4 steps an epoch, 2 points
    assert rows[-1]["epoch"] == 2 and all(r["probe_size"] == 30 for r in rows)
    assert all(r["reference_lr"] == pytest.approx(lr * 2 / 9) and r["classes"] == 3 for r in rows)
    assert all(0 < r["logit_cosine"] <= 1 + 1e-6 for r in rows)


def test_the_cli_example_writes_probe_csv(tiny_data, tmp_path):
    torch.save(tiny_data, tmp_path / "data.pt")
    (line,) = cli.EXAMPLES["probe"]
    argv = shlex.split(line.replace(cli.DATA, str(tmp_path / "data.pt")).replace("/tmp/lb", str(tmp_path)))[1:]
    argv += ["--train-size", "200", "--val-size", "50", "--hidden", "16", "--batch-size", "50",
             "--points-per-epoch", "2", "--probe-size", "20"]
    assert cli.main(argv) == 0
    with open(tmp_path / "probe" / "probe.csv") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == probe.COLUMNS
        rows = list(reader)
    assert [int(r["step"]) for r in rows] == [0, 2, 4] and {r["loss"] for r in rows} == {SLOW}
    assert [p.name for p in (tmp_path / "probe").iterdir()] == ["probe.csv"]  # no temporary left


def test_an_unknown_reference_is_refused_in_one_line(tiny_data, tmp_path, capsys):
    torch.save(tiny_data, tmp_path / "data.pt")
    status = cli.main(["probe", "--loss", SLOW, "--reference", "nope", "--seed", "0", "--data",
                       str(tmp_path / "data.pt"), "--out", str(tmp_path / "p.csv")])
    assert status == 2 and "--reference: unknown loss 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_gather_probe_writes_one_recorded_table_that_pages_read_and_refuse_when_edited(tiny_data, tmp_path):
    from lossbench import gathered, tables

    paths = []
    for seed in (0, 1):
        cfg = TrainConfig(variant=SLOW, loss=SLOW, seed=seed, lr=0.5, **{**TINY, "epochs": 1})
        probe.run_probe(cfg, tiny_data, REFERENCE, points_per_epoch=2, probe_size=10, out=tmp_path / f"{seed}.csv")
        paths.append(tmp_path / f"{seed}.csv")
    (line,) = cli.EXAMPLES["gather-probe"]
    assert cli.main(["gather-probe", "--probes", *map(str, paths), "--out-dir", str(tmp_path / "tables")]) == 0
    assert line.startswith("lossbench gather-probe --probes ")
    table = tables.read_gathered(tmp_path / "tables" / "probe.csv")
    assert list(table.columns) == probe.COLUMNS and list(table["seed"]) == [0, 0, 0, 1, 1, 1]
    assert gathered.gathered_record(tmp_path / "tables" / "probe.csv") == str(tmp_path / "tables" /
                                                                           "probe_gathered.json")
    assert "snakemake -R gather_probe" in gathered.mend_command(tmp_path / "tables" / "probe.csv")
    gathered.check_gathered(tmp_path / "tables")
    edited = tmp_path / "tables" / "probe.csv"
    edited.write_text(edited.read_text().replace(",0.5,", ",5,"))
    with pytest.raises(gathered.TableError, match="probe.csv is not the table gather wrote"):
        gathered.check_gathered(tmp_path / "tables")


def test_gather_probe_refuses_a_file_with_other_columns(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("step,loss\n0,a\n")
    assert cli.main(["gather-probe", "--probes", str(tmp_path / "x.csv"), "--out-dir", str(tmp_path / "t")]) == 1
    assert "not a probe.csv of this lossbench" in capsys.readouterr().err
    assert not (tmp_path / "t" / "probe.csv").exists()
