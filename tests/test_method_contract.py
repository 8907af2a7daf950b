from dataclasses import dataclass

import numpy as np
import pytest

from uadbench import ImageSet, Method
from uadbench.contracts.method import check_method_class, replace_params


@dataclass(frozen=True)
class Params:
    image_size: int = 32
    lr: float = 0.1
    pretrained: bool = False
    name: str | None = None
    widths: tuple[int, ...] = (1, 2)


class Good(Method):
    """A method that does nothing useful."""

    name = "good"
    Params = Params
    profiles = {"quick": Params(), "paper": Params(image_size=64)}

    def fit(self, train, val=None):
        return self

    def score(self, images):
        return np.zeros(len(images))


def test_a_complete_method_passes_the_check_and_describes_itself():
    check_method_class(Good)
    assert Good.describe() == "A method that does nothing useful."


def test_missing_pieces_are_named():
    class Bad(Method):
        def fit(self, train, val=None):
            return self

        def score(self, images):
            return images

    with pytest.raises(TypeError, match=r"`name`"):
        check_method_class(Bad)

    class NotADataclass(Good):
        class Params:
            image_size = 32

        profiles = {}

    with pytest.raises(TypeError, match=r"`Params` that is a dataclass"):
        check_method_class(NotADataclass)

    class NoScore(Good):
        score = Method.score

    with pytest.raises(TypeError, match=r"a `score` \(or `score_variants`\) method"):
        check_method_class(NoScore)


def test_params_without_image_size_are_refused():
    @dataclass
    class NoSize:
        lr: float = 1.0

    class Bad(Good):
        Params = NoSize
        profiles = {"quick": NoSize()}

    with pytest.raises(TypeError, match="image_size"):
        check_method_class(Bad)


def test_overrides_are_parsed_by_field_type():
    p = replace_params(
        Params(), {"lr": "0.5", "pretrained": "yes", "name": "none", "widths": "3,4"}
    )
    assert p == Params(lr=0.5, pretrained=True, name=None, widths=(3, 4))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lrr": "1"}, "unknown parameter 'lrr'"),
        ({"lr": "fast"}, "wants float"),
        ({"pretrained": "maybe"}, "true or false"),
    ],
)
def test_bad_overrides_say_what_is_wrong(overrides, message):
    with pytest.raises(ValueError, match=message):
        replace_params(Params(), overrides)


def test_profiles_and_sizes_are_checked():
    assert Good.params_for("paper").image_size == 64
    with pytest.raises(ValueError, match=r"no profile 'huge'.*paper, quick"):
        Good.params_for("huge")
    with pytest.raises(ValueError, match="at least 8 px"):
        Good.check_params(Params(image_size=4))


def test_image_set_checks_its_arrays():
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(np.zeros((2, 4, 4), np.float32), ("a", "b"))
    with pytest.raises(ValueError, match="1 ids for 2 images"):
        ImageSet(np.zeros((2, 4, 4), np.uint8), ("a",))


# -- every registered method passes the checks a third-party author can run ----------------

PRETEXT = {"steps": "2", "batch_size": "4", "backbone": "resnet18", "weights": "none"}
FAST = {
    "ae": {"epochs": "1"},
    "vae": {"epochs": "1"},
    "f-anogan": {"gan_epochs": "1", "encoder_epochs": "1", "n_critic": "2"},
    "imagenet-gaussian": {"batch_size": "16"},
    **{name: PRETEXT for name in ("anatpaste", "cutpaste", "cutpaste-scar", "cutpaste-union")},
    "cutpaste-3way": PRETEXT,
}
BRIDGED = {"epochs": "1", "max_steps": "2"}
SIZES = {"anomalib-cflow": 128}  # CFLOW takes no less


def registered(bridged: bool) -> list[str]:
    from uadbench import registry

    return [n for n in registry.methods.names() if n.startswith("anomalib-") == bridged]


def test_the_built_in_list_is_the_one_checked_here():
    assert sorted(registered(False)) == sorted(FAST)


@pytest.mark.parametrize("name", registered(False))
def test_every_built_in_method_passes_check_method(name):
    from uadbench import registry
    from uadbench.testing import check_method

    check_method(registry.methods.get(name), FAST[name], image_size=32)


@pytest.mark.slow
@pytest.mark.parametrize("name", registered(True))
def test_every_bridged_model_the_bridge_lists_passes_check_method(
    name, resnet18_file, tmp_path, monkeypatch
):
    from uadbench import registry
    from uadbench.testing import check_method

    monkeypatch.chdir(tmp_path)  # anything anomalib writes stays here
    check_method(registry.methods.get(name), BRIDGED, image_size=SIZES.get(name, 64))


def test_a_three_line_method_without_params_or_profiles_runs(tmp_path):
    from uadbench.testing import check_method

    class Minimal(Method):
        name = "minimal"

        def fit(self, train, val=None):
            self.mean_ = train.images.mean(axis=0)
            return self

        def score(self, images):
            return np.abs(images - self.mean_).mean(axis=(1, 2))

    check_method(Minimal)
    assert Minimal.profile_name("quick") == Minimal.profile_name("paper") == "default"
    assert Minimal.params_for("quick").image_size == 64


def test_check_method_names_what_is_wrong():
    from uadbench.testing import MethodCheckError, check_method

    class Unseeded(Good):
        name = "unseeded"

        def fit(self, train, val=None):
            self.offset_ = np.random.default_rng().random()  # not from context.seed
            return self

        def score(self, images):
            return images.mean(axis=(1, 2)) + self.offset_

    with pytest.raises(MethodCheckError, match="other 'score' scores the second time"):
        check_method(Unseeded)

    class WrongReport(Good):
        name = "wrong-report"

        def score_variants(self, images):
            return {"a": np.zeros(len(images))}

    with pytest.raises(MethodCheckError, match="reports 'score', which is not among"):
        check_method(WrongReport)


class Ranks(Good):
    """Scores by mean intensity: a method that ranks."""

    name = "ranks"

    def score(self, images):
        return images.mean(axis=(1, 2))


def test_check_method_refuses_constant_scores():
    from uadbench.testing import MethodCheckError, check_method

    check_method(Ranks)
    with pytest.raises(MethodCheckError, match="gave every test image the same 'score' score"):
        check_method(Good)  # zeros for every image


def test_check_method_says_when_score_is_not_deterministic():
    from uadbench.testing import MethodCheckError, check_method

    class DrawsInScore(Ranks):
        name = "draws-in-score"

        def score(self, images):
            noise = np.random.default_rng().random(len(images))  # a new draw at every call
            return super().score(images) + noise

    with pytest.raises(MethodCheckError) as caught:
        check_method(DrawsInScore)
    assert "score is not deterministic for a fixed seed" in str(caught.value)
    assert "reported variant" not in str(caught.value)

    class OtherScore(Ranks):  # deterministic, but score is not the reported variant
        name = "other-score"

        def score_variants(self, images):
            return {"score": super().score(images) + 1}

    with pytest.raises(MethodCheckError, match="score differs from its reported variant"):
        check_method(OtherScore)


def test_check_method_checks_anomaly_maps():
    from uadbench.testing import MethodCheckError, check_method

    class Mapped(Good):
        name = "mapped"

        def fit(self, train, val=None):
            self.mean_ = train.images.astype(float).mean(axis=0)
            return self

        def score(self, images):
            return self.anomaly_map(images).mean(axis=(1, 2))

        def anomaly_map(self, images):
            return np.abs(images - self.mean_)

    check_method(Mapped)
    assert Mapped.has_anomaly_map() and not Good.has_anomaly_map()

    class Cropped(Mapped):
        def anomaly_map(self, images):
            return super().anomaly_map(images)[:, 1:]

    class OwnScore(Mapped):
        def score(self, images):
            return np.abs(images - self.mean_).mean(axis=(1, 2))

    class WithNaN(OwnScore):
        def anomaly_map(self, images):
            return np.full(images.shape, np.nan)

    class Restless(OwnScore):
        def anomaly_map(self, images):
            self.calls_ = getattr(self, "calls_", 0) + 1
            return super().anomaly_map(images) + self.calls_

    class ScoreMoves(Mapped):
        def score(self, images):
            return np.abs(images - self.mean_).mean(axis=(1, 2)) + getattr(self, "moved_", 0)

        def anomaly_map(self, images):
            self.moved_ = 1.0
            return np.abs(images - self.mean_)

    for broken, message in [
        (Cropped, r"gave shape \(24, 31, 32\) for images \(24, 32, 32\)"),
        (WithNaN, "finite floats"),
        (Restless, "other maps for the same images"),
        (ScoreMoves, "making anomaly maps changed its scores"),
    ]:
        with pytest.raises(MethodCheckError, match=message):
            check_method(broken)
