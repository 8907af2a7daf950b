"""Finding methods and data sets by name: entry points and plugin modules, one door for all.

Built-in methods and data sets are registered exactly as a third-party package registers its
own: in the ``uadbench.methods`` and ``uadbench.datasets`` entry-point groups. A module that is
not installed joins with ``--plugin path/to/file.py`` or ``--plugin package.module`` (or the
``UADBENCH_PLUGINS`` environment variable, paths separated by ``os.pathsep``); every concrete
``Method`` or ``Dataset`` subclass defined in it that has a ``name`` is registered under it
(one without is a helper base class, skipped).

A *family* registers many names behind one prefix (``uadbench.method_families``): an object
with ``prefix``, ``names()`` (the names it lists) and ``get(name)`` (the class for any name with
its prefix), e.g. every model of another library made available as ``<prefix><model>``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from uadbench.entry_points import installed
from uadbench.errors import UserError

T = TypeVar("T", bound=type)

PLUGINS_ENV = "UADBENCH_PLUGINS"


class UnknownNameError(UserError, KeyError):
    """A name that no registered method or data set has."""

    def __str__(self) -> str:
        return str(self.args[0])


class PluginError(UserError, ImportError):
    """A plugin module that cannot be imported or defines nothing usable."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered class (or the entry point that will load it) and where it comes from."""

    name: str
    origin: str
    entry_point: EntryPoint | None = None
    cls: T | None = None
    plugin: str | None = None
    """The plugin that defined it: a resolved ``.py`` path or a module name."""


class Registry(Generic[T]):
    """Classes of one kind (methods or data sets) known by name."""

    def __init__(
        self, kind: str, group: str, check: Callable[[type], None], family_group: str | None = None
    ) -> None:
        self.kind, self.group, self._check = kind, group, check
        self.family_group = family_group
        self._plugins: dict[str, Entry[T]] = {}
        self._loaded: dict[str, T] = {}
        self._family_list: list[tuple[object, str]] | None = None

    def _families(self) -> list[tuple[object, str]]:
        if self._family_list is None:
            self._family_list = self._load_families()
        return self._family_list

    def _load_families(self) -> list[tuple[object, str]]:
        if self.family_group is None:
            return []
        families = []
        for ep in installed(self.family_group):
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            try:
                families.append((ep.load(), f"{dist} ({ep.value})"))
            except (Exception, SystemExit) as error:
                raise PluginError(
                    f"{self.kind} family {ep.name!r} ({ep.value}) failed to import: "
                    f"{_import_failure(error)}"
                ) from error
        return families

    def _family_of(self, name: str) -> tuple[object, str] | None:
        return next(((f, o) for f, o in self._families() if name.startswith(f.prefix)), None)

    def _entries(self) -> dict[str, list[Entry[T]]]:
        found: dict[str, list[Entry[T]]] = {}
        for ep in installed(self.group):
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            found.setdefault(ep.name, []).append(Entry(ep.name, f"{dist} ({ep.value})", ep))
        for name, entry in self._plugins.items():
            found.setdefault(name, []).append(entry)
        return found

    def names(self) -> list[str]:
        """Every registered name (families: the names they list), sorted."""
        listed = {name for family, _ in self._families() for name in family.names()}
        return sorted(set(self._entries()) | listed)

    def origin(self, name: str) -> str:
        """Where ``name`` comes from: a distribution's entry point or a plugin module."""
        if name not in self._entries() and (found := self._family_of(name)) is not None:
            return found[1]
        return self._one(name).origin

    def plugin_of(self, name: str) -> str | None:
        """The plugin (resolved file or module) that registered ``name``; None for an installed
        entry point or a family."""
        entries = self._plugins.get(name)
        return entries.plugin if entries is not None else None

    def get(self, name: str) -> T:
        """The class registered as ``name``; an error that lists the valid names otherwise."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._entries() and (found := self._family_of(name)) is not None:
            cls = found[0].get(name)
            self._check(cls)
            self._loaded[name] = cls
            return cls
        entry = self._one(name)
        if entry.cls is not None:
            cls = entry.cls
        else:
            assert entry.entry_point is not None
            try:
                cls = entry.entry_point.load()
            except (Exception, SystemExit) as error:  # a broken plugin must name itself
                raise PluginError(
                    f"{self.kind} {name!r} from {entry.origin} failed to import: "
                    f"{_import_failure(error)}"
                ) from error
            self._check(cls)
            if cls.name != name:
                raise PluginError(
                    f"entry point {name!r} ({entry.origin}) loads a class named {cls.name!r}; "
                    "the entry-point name and the class's `name` must agree"
                )
        self._loaded[name] = cls
        return cls

    def _one(self, name: str) -> Entry[T]:
        entries = self._entries().get(name)
        if not entries:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.names())}"
            )
        if len(entries) > 1:
            origins = "; ".join(e.origin for e in entries)
            raise PluginError(f"{self.kind} {name!r} is registered more than once: {origins}")
        return entries[0]

    def add(self, cls: T, origin: str, plugin: str | None = None) -> None:
        """Register ``cls`` under its ``name``, from the plugin module ``plugin``."""
        self._check(cls)
        existing = self._entries().get(cls.name)
        if existing and not (len(existing) == 1 and existing[0].cls is cls):
            raise PluginError(
                f"{origin} defines {self.kind} {cls.name!r}, already registered by "
                f"{existing[0].origin}; rename it"
            )
        self._plugins[cls.name] = Entry(cls.name, origin, cls=cls, plugin=plugin)


def _check_method(cls: type) -> None:
    from uadbench.contracts.method import check_method_class

    check_method_class(cls)


def _check_dataset(cls: type) -> None:
    from uadbench.contracts.dataset import check_dataset_class

    check_dataset_class(cls)


methods: Registry[type] = Registry(
    "method", "uadbench.methods", _check_method, family_group="uadbench.method_families"
)
datasets: Registry[type] = Registry("data set", "uadbench.datasets", _check_dataset)


def load_plugin(spec: str) -> list[str]:
    """Import a plugin (a ``.py`` path or a module name); register every concrete ``Method``
    or ``Dataset`` subclass it defines that has a ``name`` (a class without one is a helper,
    skipped).

    Returns the names it registered; ``PluginError`` when there is none.
    """
    from uadbench.contracts.dataset import Dataset
    from uadbench.contracts.method import Method

    module = _import(spec)
    registered, unnamed = [], []
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if obj.__module__ != module.__name__ or inspect.isabstract(obj):
            continue
        for base, registry in ((Method, methods), (Dataset, datasets)):
            if not issubclass(obj, base) or obj is base:
                continue
            if not getattr(obj, "name", None):
                unnamed.append(f"{registry.kind} class {obj.__qualname__}")
                continue
            try:
                registry.add(obj, f"plugin {spec}", plugin_source(spec))
            except TypeError as error:
                raise PluginError(f"plugin {spec}: {error}") from error
            registered.append(obj.name)
    if not registered:
        helpers = "".join(f"; {c} needs a class attribute `name` (str)" for c in unnamed)
        raise PluginError(
            f"plugin {spec} defines no concrete Method or Dataset subclass with a `name`{helpers}"
        )
    return registered


def plugin_source(spec: str) -> str:
    """A plugin as a later run in another folder names it: a file's resolved path, or the
    module name."""
    path = Path(spec)
    return str(path.resolve()) if spec.endswith(".py") or path.exists() else spec


def load_plugins(specs: Iterable[str]) -> None:
    """Load each plugin of ``specs`` and of the ``UADBENCH_PLUGINS`` environment variable."""
    from_env = [s for s in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if s]
    for spec in [*from_env, *specs]:
        load_plugin(spec)


def _import(spec: str) -> ModuleType:
    path = Path(spec)
    try:
        if spec.endswith(".py") or path.exists():
            if not path.is_file():
                raise PluginError(f"plugin file {spec} does not exist")
            digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
            module_name = f"uadbench_plugin_{path.stem}_{digest}"
            if module_name in sys.modules:
                return sys.modules[module_name]
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
            return module
        return importlib.import_module(spec)
    except PluginError:
        raise
    except (Exception, SystemExit) as error:
        raise PluginError(f"plugin {spec} failed to import: {_import_failure(error)}") from error


def _import_failure(error: BaseException) -> str:
    """What went wrong while a plugin was imported, in words."""
    if isinstance(error, SystemExit):
        return f"it called sys.exit({error.code!r}) while being imported"
    return f"{type(error).__name__}: {error}"


def method_settings(
    method: str | type, profile: str = "quick", overrides: Mapping[str, str] | None = None
) -> tuple[type, str, Any]:
    """The method class (a class, or the name it is registered under), the profile that
    serves ``profile``, and that profile's hyperparameters with ``overrides`` (strings, as
    typed) applied and checked: what a run of it is planned with."""
    cls = methods.get(method) if isinstance(method, str) else method
    name = cls.profile_name(profile)
    params = cls.params_for(name, overrides)
    cls.check_params(params)
    return cls, name, params


def create_method(
    method: str | type, profile: str = "quick", context: Any = None, **overrides: object
) -> Any:
    """A method made from its name, profile and hyperparameters (as timm's ``create_model``):
    ``create_method("ae", "quick", epochs=5)``; ``context`` is its ``RunContext``."""
    texts = {key: _typed(value) for key, value in overrides.items()}
    cls, _, params = method_settings(method, profile, texts)
    return cls(params, context)


def _typed(value: object) -> str:
    """A value as ``--param`` would give it."""
    return str(value).lower() if isinstance(value, bool) else str(value)
