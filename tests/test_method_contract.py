from dataclasses import dataclass

import numpy as np
import pytest

from uadbench import ImageSet, Method
from uadbench.method import check_method_class, replace_params


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

    with pytest.raises(TypeError, match=r"`name`.*dataclass `Params`.*profiles"):
        check_method_class(Bad)


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
