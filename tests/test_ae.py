import pytest

from uadbench.running.planning import RunRequest, plan
from uadbench.running.runner import execute

from .conftest import TINY_SYNTHETIC


def run_ae(tmp_path, **changes):
    values = dict(method="ae", dataset="synthetic", device="cpu", results_dir=tmp_path / "r")
    values.update(changes)
    [planned] = plan(RunRequest(**values))
    return execute(planned, tmp_path / "cache", force=True)


def test_same_seed_same_scores_on_the_cpu(tmp_path):
    kwargs = dict(data_options=TINY_SYNTHETIC, params={"epochs": "2"}, image_size=32)
    first, second = run_ae(tmp_path, **kwargs), run_ae(tmp_path, **kwargs)
    assert first.status == second.status == "ok"
    assert first.record.test.scores == second.record.test.scores
    assert first.record.hardware["mkl_reproducibility"] == "AUTO"
    other = run_ae(tmp_path, seeds=(1,), **kwargs)
    assert other.record.test.scores != first.record.test.scores


def test_a_seeded_run_has_mkl_sum_reproducibly(capfd):
    """MKL's conditional reproducibility is on and its dynamic thread count off once a run is
    seeded (as MKL itself reports each call): without them two runs of one seed differed in the
    scores' last digits on another CPU model."""
    torch = pytest.importorskip("torch")
    if not torch.backends.mkl.is_available():
        pytest.skip("this torch has no Intel MKL")
    from uadbench.running.runtime import seed_everything

    seed_everything(0)
    with torch.backends.mkl.verbose(torch.backends.mkl.VERBOSE_ON):
        torch.nn.functional.linear(torch.ones(40, 2048), torch.ones(16, 2048))
    reported = capfd.readouterr().out
    assert "SGEMM" in reported and "CNR:AUTO" in reported and "Dyn:0" in reported


def test_ae_rejects_sizes_it_cannot_build():
    with pytest.raises(ValueError, match="4 \\* 2\\*\\*k"):
        plan(RunRequest(method="ae", dataset="synthetic", image_size=48))


@pytest.mark.slow
def test_default_ae_detects_phantom_lesions(tmp_path):
    """README command 1 as a test: the default method, data set, seed and profile."""
    outcome = run_ae(tmp_path)
    assert outcome.status == "ok"
    assert outcome.record.metrics["auroc"] > 0.6
    losses = outcome.record.history["loss"]["value"]
    assert losses[-1] < 0.5 * losses[0]
