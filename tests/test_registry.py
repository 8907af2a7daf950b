from pathlib import Path

import pytest

from uadbench import registry
from uadbench.registry import PluginError, UnknownNameError


def test_builtins_come_from_entry_points_of_the_installed_distribution():
    assert "ae" in registry.methods.names()
    assert "synthetic" in registry.datasets.names()
    assert registry.methods.origin("ae").startswith("uadbench (uadbench.methods.ae:")
    assert registry.methods.get("ae").name == "ae"


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match=r"unknown method 'nope'; valid methods: .*ae"):
        registry.methods.get("nope")
    with pytest.raises(UnknownNameError, match=r"valid data sets: .*synthetic"):
        registry.datasets.get("nope")


def test_a_plugin_file_registers_its_method(plugin_file):
    assert registry.load_plugin(str(plugin_file)) == ["mean-distance"]
    cls = registry.methods.get("mean-distance")
    assert cls.describe().startswith("Mean absolute distance")
    assert registry.methods.origin("mean-distance") == f"plugin {plugin_file}"


def test_a_plugin_module_name_works_too(plugin_file, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_file.parent))
    assert registry.load_plugin("mean_distance") == ["mean-distance"]


def test_a_broken_plugin_names_the_file_and_the_exception(tmp_path: Path):
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy\nraise RuntimeError('boom at import')\n")
    with pytest.raises(
        PluginError, match=r"plugin .*broken.py failed to import: RuntimeError: boom"
    ):
        registry.load_plugin(str(broken))


def test_plugin_errors(tmp_path: Path):
    with pytest.raises(PluginError, match="does not exist"):
        registry.load_plugin(str(tmp_path / "absent.py"))
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(PluginError, match="defines no concrete Method or Dataset"):
        registry.load_plugin(str(empty))
    clash = tmp_path / "clash.py"
    clash.write_text(
        "from uadbench.methods.ae import AutoEncoder\nclass Mine(AutoEncoder):\n    '''Mine.'''\n"
    )
    with pytest.raises(PluginError, match="'ae', already registered by uadbench"):
        registry.load_plugin(str(clash))
    incomplete = tmp_path / "incomplete.py"
    incomplete.write_text(
        "from uadbench import Method\n"
        "class Half(Method):\n"
        "    def fit(self, train, val=None): return self\n"
        "    def score(self, images): return images\n"
    )
    with pytest.raises(PluginError, match="needs a class attribute `name`"):
        registry.load_plugin(str(incomplete))
    minimal = tmp_path / "minimal.py"  # no Params, no profiles: that is a complete method
    minimal.write_text(incomplete.read_text().replace("(Method):\n", "(Method):\n    name = 'm'\n"))
    assert registry.load_plugin(str(minimal)) == ["m"]


def test_plugins_from_the_environment(plugin_file, monkeypatch):
    monkeypatch.setenv("UADBENCH_PLUGINS", str(plugin_file))
    registry.load_plugins([])
    assert "mean-distance" in registry.methods.names()


def test_a_helper_base_class_in_a_plugin_is_skipped(tmp_path: Path):
    plugin = tmp_path / "with_helpers.py"
    plugin.write_text(
        "import abc\n"
        "import numpy as np\n"
        "from uadbench import Method\n"
        "class Base(Method):  # a helper: concrete, but unnamed\n"
        "    def fit(self, train, val=None):\n"
        "        self.mean_ = train.images.mean(axis=0)\n"
        "        return self\n"
        "class Abstract(Base):  # a helper: abstract\n"
        "    @abc.abstractmethod\n"
        "    def distance(self, images): ...\n"
        "class Placeholder(Base):  # a helper whose name is left empty\n"
        "    name = ''\n"
        "class Mean(Base):\n"
        "    name = 'helper-mean'\n"
        "    def score(self, images):\n"
        "        return np.abs(images - self.mean_).mean(axis=(1, 2))\n"
    )
    assert registry.load_plugin(str(plugin)) == ["helper-mean"]
    assert registry.methods.get("helper-mean").__name__ == "Mean"
    helpers_only = tmp_path / "helpers_only.py"
    helpers_only.write_text(plugin.read_text().split("class Mean")[0])
    with pytest.raises(PluginError) as refused:
        registry.load_plugin(str(helpers_only))
    message = str(refused.value)
    assert "defines no concrete Method or Dataset subclass with a `name`" in message
    assert "method class Base needs a class attribute `name`" in message
    assert "Placeholder" in message and "Abstract" not in message
