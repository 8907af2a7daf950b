"""The reconstruction and ImageNet-feature baselines, end to end on tiny synthetic data."""

import pytest
import torch
from uadbench.methods.reconstruction_nets import collapse_warning

from uadbench.running.planning import RunRequest, plan
from uadbench.running.runner import execute

from .conftest import TINY_SYNTHETIC

FAST = {
    "ae": {"epochs": "2"},
    "vae": {"epochs": "2"},
    "f-anogan": {"gan_epochs": "2", "encoder_epochs": "2", "n_critic": "2"},
    "imagenet-gaussian": {"batch_size": "16"},
}
VARIANTS = {
    "ae": {"score"},
    "vae": {"reconstruction", "elbo"},
    "f-anogan": {"anomaly", "image", "features"},
    "imagenet-gaussian": {"gaussian", "knn"},
}


def run(tmp_path, method, size=32, **params):
    request = RunRequest(
        method=method,
        dataset="synthetic",
        data_options=TINY_SYNTHETIC,
        image_size=size,
        params={**FAST[method], **params},
        device="cpu",
        results_dir=tmp_path / "r",
    )
    [planned] = plan(request)
    return execute(planned, tmp_path / "cache")


@pytest.mark.parametrize("method", sorted(FAST))
def test_baseline_runs_end_to_end(tmp_path, method):
    outcome = run(tmp_path, method, size=64 if method == "imagenet-gaussian" else 32)
    assert outcome.status == "ok", outcome.record.error
    assert set(outcome.record.test.score_variants) == VARIANTS[method]
    assert 0 <= outcome.record.metrics["auroc"] <= 1


def test_reported_score_follows_the_parameter(tmp_path):
    outcome = run(tmp_path, "vae", reported="elbo")
    assert outcome.record.test.reported_score == "elbo"
    assert outcome.record.test.scores == outcome.record.test.score_variants["elbo"]


@pytest.mark.parametrize("method", ["ae", "vae", "f-anogan"])
def test_sizes_the_networks_cannot_build_fail_before_training(method):
    with pytest.raises(ValueError, match=r"4 \* 2\*\*k"):
        plan(RunRequest(method=method, dataset="synthetic", image_size=48))


def test_a_collapsed_reconstruction_is_flagged():
    same = torch.zeros(10, 1, 8, 8) + 0.3
    varied = torch.rand(10, 1, 8, 8)
    assert "collapsed" in collapse_warning(same)
    assert collapse_warning(varied) is None


def test_a_collapsed_model_is_flagged_in_the_record(tmp_path, monkeypatch):
    from uadbench.methods import reconstruction_nets

    monkeypatch.setattr(
        reconstruction_nets.ConvAutoEncoder,
        "forward",
        lambda self, x: self.decoder(self.encoder(x)) * 0,
    )
    outcome = run(tmp_path, "ae")
    assert any("collapsed" in w for w in outcome.record.warnings)
