"""anomalib models through the bridge, offline, on uadbench's own tiny synthetic split."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision
from uadbench.methods.anomalib_models import MODELS
from uadbench.methods.anomalib_offline import offline_backbones
from uadbench.methods.backbones import RESNET18_FILE, WeightsNotFoundError

from uadbench import registry
from uadbench.registry import UnknownNameError
from uadbench.running.planning import RunRequest, plan
from uadbench.running.runner import execute

from .conftest import TINY_SYNTHETIC


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
    assert outcome.status == "ok", outcome.record.error
    assert outcome.record.config.params["weights"] == weights
    assert len(outcome.record.test.scores) == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "r"]  # no anomalib folders
    if method == "anomalib-draem":
        assert "Perlin" in outcome.record.notes["anomaly_source"]


@pytest.mark.parametrize(
    ("method", "black", "white"),
    [("anomalib-ganomaly", -1.0, 1.0), ("anomalib-draem", 0.0, 1.0), ("anomalib-padim", -2.1, 2.6)],
)
def test_each_model_is_fed_the_intensities_it_expects(method, black, white):
    method_class = registry.methods.get(method)
    method = method_class(method_class.params_for("quick"))
    with offline_backbones(method.params.weights):
        model = method._build()
    size = method.params.image_size
    x = model.pre_processor.transform(
        torch.stack([torch.zeros(3, size, size), torch.ones(3, size, size)])
    )
    assert x[0].min().item() == pytest.approx(black, abs=0.05)
    assert x[1].max().item() == pytest.approx(white, abs=0.05)


def test_a_bridged_model_that_rebuilds_every_image_alike_is_flagged():
    method_class = registry.methods.get("anomalib-ganomaly")
    method = method_class(method_class.params_for("quick"))
    method.model_ = torch.nn.Module()  # stands in for a trained anomalib model
    method.model_.pre_processor = SimpleNamespace(transform=lambda x: x)
    method.model_.model = SimpleNamespace(generator=lambda x: (torch.zeros_like(x), None, None))
    images = np.random.default_rng(0).integers(0, 256, (8, 64, 64), dtype=np.uint8)
    method.warn_if_collapsed(method.spec.reconstruction, images)
    [warning] = method.context.history.warnings
    assert "collapsed" in warning
    method.model_.model.generator = lambda x: (x, None, None)  # rebuilds each image as it is
    method.context.history.warnings.clear()
    method.warn_if_collapsed(method.spec.reconstruction, images)
    assert not method.context.history.warnings


def test_the_family_lists_and_plans_its_models_without_importing_anomalib():
    code = (
        "import sys\n"
        "from uadbench import registry\n"
        "from uadbench.running.planning import RunRequest, plan\n"
        "names = registry.methods.names()\n"
        "assert {'anomalib-padim', 'anomalib-reverse-distillation'} <= set(names), names\n"
        "plan(RunRequest(method='anomalib-padim', dataset='synthetic'))\n"
        "assert 'anomalib' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unlisted_model_is_built_with_its_pretraining_switch_off():
    method_class = registry.methods.get("anomalib-fre")
    method = method_class(method_class.params_for("quick"))
    assert method.params.weights == "none"
    with offline_backbones("none"):
        method._build()  # would ask timm for pretrained ResNet-50 weights with the switch on


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("anomalib-uflow", "pretrained 'cait_m48_448' weights although weights=none"),
        ("anomalib-cfa", "wide_resnet50_2-9ba9bcbe.pth although weights=none"),
        ("anomalib-efficient-ad", "reads anomalib's own datamodule"),
    ],
)
def test_unlisted_models_that_cannot_run_here_fail_saying_why(tmp_path, method, message):
    outcome = run(tmp_path, method, weights="none")
    assert outcome.status == "failed"
    assert message in outcome.record.error.message


def test_torchvision_weights_load_only_from_the_local_cache(resnet18_file, tmp_path, monkeypatch):
    import timm
    import torchvision.models._api as torchvision_weights

    originals = timm.create_model, torchvision_weights.load_state_dict_from_url
    with offline_backbones("resnet18"):
        model = torchvision.models.resnet18(weights="IMAGENET1K_V1")
    saved = torch.load(resnet18_file, weights_only=True)
    assert torch.equal(model.layer3[0].conv1.weight, saved["layer3.0.conv1.weight"])
    with (
        pytest.raises(WeightsNotFoundError, match="weights=efficientnet-lite0 does not name it"),
        offline_backbones("efficientnet-lite0"),
    ):
        torchvision.models.resnet18(weights="IMAGENET1K_V1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    missing = rf"not found at .*empty.*{RESNET18_FILE}"
    with pytest.raises(WeightsNotFoundError, match=missing), offline_backbones("resnet18"):
        torchvision.models.resnet18(weights="IMAGENET1K_V1")
    assert (timm.create_model, torchvision_weights.load_state_dict_from_url) == originals


def test_timm_requests_by_keyword_are_answered_too():
    import timm

    with (
        pytest.raises(WeightsNotFoundError, match="although weights=none"),
        offline_backbones("none"),
    ):
        timm.create_model(model_name="resnet18", pretrained=True)


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

    with offline_backbones("resnet18"):
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


def test_constructor_arguments_the_bridge_exposes_are_real_and_reach_the_model():
    import inspect

    from anomalib.models import _get_model_class_by_name

    for model, spec in MODELS.items():
        signature = inspect.signature(_get_model_class_by_name(model)).parameters
        for key, value in spec.kwargs.items():
            assert key in signature, (model, key)
            default = signature[key].default
            assert type(default) is type(value) or default is None, (model, key, default)
    method_class = registry.methods.get("anomalib-patchcore")
    params = method_class.params_for("quick", {"coreset_sampling_ratio": "0.02"})
    assert params.coreset_sampling_ratio == 0.02  # a hyperparameter: in every record
    with offline_backbones(params.weights):
        built = method_class(params)._build()
    assert built.coreset_sampling_ratio == 0.02
    notes = " ".join(method_class.parameter_notes())
    assert "precision=" in notes and "coreset_sampling_ratio" not in notes


@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_bridge_knows_which_listed_models_have_a_memory_bank(model):
    from anomalib.models import _get_model_class_by_name
    from anomalib.models.components import MemoryBankMixin

    has_one = issubclass(_get_model_class_by_name(model), MemoryBankMixin)
    assert MODELS[model].memory_bank == has_one


@pytest.mark.parametrize(("method", "fed"), [("anomalib-padim", 40), ("anomalib-stfpm", 32)])
def test_memory_bank_models_are_fed_every_training_image(method, fed):
    method_class = registry.methods.get(method)
    method = method_class(method_class.params_for("quick"))  # batches of 32
    images = np.zeros((40, 64, 64), dtype=np.uint8)
    loader = method._loader(images, shuffle=True)
    assert sum(len(batch.image) for batch in loader) == fed


def test_whether_an_unlisted_model_has_a_memory_bank_is_read_from_its_class():
    assert registry.methods.get("anomalib-cfa").spec.memory_bank is False
    assert registry.methods.get("anomalib-m-h-patchcore").spec.memory_bank is True
