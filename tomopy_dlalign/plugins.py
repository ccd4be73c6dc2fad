"""Plugin hooks and the registry of projectors, reconstructions, aligners and phasing.

All hook specifications live here. Each package (this one, ``cdi_plugins`` and any third
party) implements them in a module registered under the entry-point group
``tomopy.plugins``::

    [project.entry-points."tomopy.plugins"]
    my_plugin = "my_package.hooks"

and decorates plain functions with :data:`hookimpl`. Each hook returns a mapping of names
to objects (a projector class, a reconstruction function, ...). The registry loads the
entry points once, at first use; a plugin that fails to import or whose hook raises, or
one that calls ``sys.exit`` while doing so, is reported by name (a warning, and
:func:`broken`) and skipped, and the others stay usable.

Example
-------
>>> from tomopy_dlalign import plugins
>>> "mlem" in plugins.available("recon")
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

logger = logging.getLogger(__name__)

PROJECT = "tomopy_dlalign"
ENTRY_POINT_GROUP = "tomopy.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookSpecs:
    """The hooks a plugin may implement; each returns ``{name: object}``."""

    @hookspec
    def register_projectors(self) -> dict[str, Any]:
        """Projector backends: classes built as ``cls(theta, ncol, center, device)``.

        A class exposes ``forward``/``adjoint`` over whole stacks and a classmethod
        ``is_available()`` telling whether it can run on this machine.
        """

    @hookspec
    def register_recon(self) -> dict[str, Any]:
        """Reconstruction functions ``f(tomo, theta, center=None, **kwargs) -> rec``."""

    @hookspec
    def register_align(self) -> dict[str, Any]:
        """Alignment functions ``f(prj, theta, center=None, **kwargs) -> (aligned, dx, dy)``."""

    @hookspec
    def register_phasing(self) -> dict[str, Any]:
        """Phase-retrieval algorithms for ``cdi_plugins.phase_retrieval``."""


#: kind name -> hook name
KINDS = {
    "projector": "register_projectors",
    "recon": "register_recon",
    "align": "register_align",
    "phasing": "register_phasing",
}


@dataclass
class Registry:
    """Names per kind, the plugin that supplied each, and the plugins that failed."""

    manager: pluggy.PluginManager
    entries: dict[str, dict[str, tuple[Any, str]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def collect(self) -> None:
        """Call every plugin's hooks again and rebuild the tables."""
        self.entries = {kind: {} for kind in KINDS}
        load_errors = {k: v for k, v in self.errors.items() if v.startswith("import failed")}
        self.errors = dict(load_errors)
        for kind, hook_name in KINDS.items():
            hook = getattr(self.manager.hook, hook_name)
            # Call each implementation on its own, so that one broken plugin cannot hide
            # the others (pluggy's hook call would stop at the first exception).
            for impl in hook.get_hookimpls():
                plugin = impl.plugin_name
                try:
                    found = impl.function() or {}
                    if not isinstance(found, dict):
                        raise TypeError(f"{hook_name} returned {type(found).__name__}, not a dict")
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - sys.exit too: reported
                    self.errors[plugin] = f"{hook_name} failed: {_failure(exc)}"
                    logger.warning("plugin %r is broken: %s", plugin, self.errors[plugin])
                    continue
                for name, obj in found.items():
                    if name in self.entries[kind]:
                        logger.warning("%s %r from plugin %r overrides the one from %r",
                                       kind, name, plugin, self.entries[kind][name][1])
                    self.entries[kind][name] = (obj, plugin)


def _failure(exc: BaseException) -> str:
    """What a plugin did wrong, in words: a plugin that calls ``sys.exit`` at import or in
    a hook would otherwise end every command, silently, with its own exit code."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


_registry: Registry | None = None


def _load() -> Registry:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HookSpecs)
    reg = Registry(pm)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - sys.exit too: reported
            reg.errors[ep.name] = f"import failed: {_failure(exc)}"
            logger.warning("plugin %r could not be loaded: %s", ep.name, reg.errors[ep.name])
    reg.collect()
    return reg


def registry() -> Registry:
    """The process-wide registry, loaded from the entry points at first use."""
    global _registry
    if _registry is None:
        _registry = _load()
    return _registry


def reload() -> Registry:
    """Forget the registry and load the entry points again (after installing a plugin)."""
    global _registry
    _registry = None
    return registry()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")


def available(kind: str) -> list[str]:
    """Sorted names registered for ``kind`` (``projector``, ``recon``, ``align``, ``phasing``)."""
    _check_kind(kind)
    return sorted(registry().entries[kind])


def get(kind: str, name: str) -> Any:
    """The object registered as ``name`` for ``kind``; a clear error lists the choices."""
    _check_kind(kind)
    table = registry().entries[kind]
    if name not in table:
        raise KeyError(f"no {kind} named {name!r}; available: {', '.join(sorted(table)) or 'none'}")
    return table[name][0]


def provider(kind: str, name: str) -> str:
    """Name of the plugin that registered ``name`` for ``kind``."""
    get(kind, name)
    return registry().entries[kind][name][1]


def register(plugin: object, name: str) -> None:
    """Register a plugin object (a module or an instance with hookimpls) in this process."""
    reg = registry()
    if reg.manager.has_plugin(name):
        raise ValueError(f"a plugin named {name!r} is already registered")
    reg.manager.register(plugin, name=name)
    reg.collect()


def unregister(name: str) -> None:
    """Remove a plugin registered with :func:`register` (or from an entry point)."""
    reg = registry()
    reg.manager.unregister(name=name)
    reg.errors.pop(name, None)
    reg.collect()


def broken() -> dict[str, str]:
    """Plugins that failed to load or whose hooks raised: ``{plugin name: reason}``."""
    return dict(registry().errors)
