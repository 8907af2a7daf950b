"""anomalib models through the bridge, offline, on uadbench's own tiny synthetic split."""

import pytest
import torch
import torchvision

from uadbench import registry
from uadbench.backbones import RESNET18_FILE, WeightsNotFoundError
from uadbench.registry import UnknownNameError
from uadbench.runner import RunRequest, execute, plan

from .conftest import TINY_SYNTHETIC


@pytest.fixture
def resnet18_file(tmp_path_factory, monkeypatch):
    """A stand-in for torchvision's ResNet-18 file in a private torch cache."""
    home = tmp_path_factory.mktemp("torch-home")
    monkeypatch.setenv("TORCH_HOME", str(home))
    path = home / "hub" / "checkpoints" / RESNET18_FILE
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def run(tmp_path, method, size=64, **params):
    request = RunRequest(
        method=method,
        dataset="synthetic",
        data_options=TINY_SYNTHETIC,
        image_size=size,
        params={"epochs": "1", "max_steps": "2", **params},
        device="cpu",
        results_dir=tmp_path / "r",
    )
    [planned] = plan(request)
    return execute(planned, tmp_path / "cache")


@pytest.mark.parametrize(
    ("method", "weights"),
    [
        ("anomalib-padim", "none"),
        ("anomalib-padim", "efficientnet-lite0"),
        ("anomalib-dfm", "none"),
        ("anomalib-patchcore", "none"),
        ("anomalib-ganomaly", "none"),
        ("anomalib-fastflow", "resnet18"),
        ("anomalib-stfpm", "efficientnet-lite0"),
        ("anomalib-dfkde", "efficientnet-lite0"),
        ("anomalib-reverse-distillation", "resnet18"),
        ("anomalib-draem", "none"),
        ("anomalib-cflow", "efficientnet-lite0"),
    ],
)
def test_bridged_models_run_offline_and_write_nothing_else(
    tmp_path, monkeypatch, resnet18_file, method, weights
):
    monkeypatch.chdir(tmp_path)
    size = 128 if method == "anomalib-cflow" else 64  # CFLOW takes no less
    outcome = run(tmp_path, method, size=size, weights=weights)
    assert outcome.status == "ok", outcome.record.get("error")
    assert outcome.record["config"]["params"]["weights"] == weights
    assert len(outcome.record["test"]["scores"]) == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "r"]  # no anomalib folders


def test_the_family_lists_its_models_without_importing_anomalib():
    names = registry.methods.names()
    assert {"anomalib-padim", "anomalib-patchcore", "anomalib-reverse-distillation"} <= set(names)


def test_sizes_a_model_cannot_take_fail_before_training():
    with pytest.raises(ValueError, match="at least 128 px"):
        plan(RunRequest(method="anomalib-cflow", dataset="synthetic", image_size=64))
    with pytest.raises(ValueError, match="divisible by 32"):
        plan(RunRequest(method="anomalib-padim", dataset="synthetic", image_size=80))


def test_a_model_that_needs_pretrained_weights_says_which_choice_works():
    with pytest.raises(ValueError, match="weights=efficientnet-lite0"):
        plan(RunRequest(method="anomalib-stfpm", dataset="synthetic", params={"weights": "none"}))


def test_an_unknown_anomalib_model_lists_the_known_ones():
    with pytest.raises(
        UnknownNameError, match=r"anomalib has no image model 'nonsense'.*anomalib-padim"
    ):
        registry.methods.get("anomalib-nonsense")


def test_resnet18_requests_are_served_from_the_torchvision_file(resnet18_file):
    import timm

    from methods.anomalib_bridge import _offline_backbones

    with _offline_backbones():
        model = timm.create_model("resnet18", pretrained=True)
    saved = torch.load(resnet18_file, weights_only=True)
    assert torch.equal(model.layer3[0].conv1.weight, saved["layer3.0.conv1.weight"])


def test_a_missing_resnet18_file_fails_before_training_saying_where_it_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    with pytest.raises(WeightsNotFoundError, match=RESNET18_FILE):
        plan(RunRequest(method="anomalib-fastflow", dataset="synthetic"))
    with pytest.raises(ValueError, match="weights=resnet18"):
        plan(
            RunRequest(method="anomalib-fastflow", dataset="synthetic", params={"weights": "none"})
        )
