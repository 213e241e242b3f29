"""Loading plugins and collecting what they provide.

Plugins are found through the ``cobra`` entry-point group, loaded once and
only when a command needs them (``cobra --help`` never pays for them). The
built-ins shipped in ``cobra_plugins`` use the same group; they provide only
importers and channels, so they are imported when those are first asked
for, and a command such as ``cobra prioritize`` never imports them.

``COBRA_LOAD_PLUGINS`` limits which third-party plugins load: a comma list of
entry-point or distribution names, and an empty value loads none, so a broken
plugin cannot lock a user out of the command that removes it. A plugin that
fails to import or to register is reported by name and skipped.

``COBRA_TRACE_HOOKS=1`` prints every hook call to stderr: the hook, the
plugins that implement it, and how long each took.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from cobra import hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "cobra"
BUILTIN_DISTRIBUTION = "cobra-collect"
BUILTIN_MODULE_PREFIX = "cobra_plugins"
KINDS = ("importer", "channel")


@dataclass
class PluginInfo:
    """One plugin as found through its entry point, loaded or not."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Provided:
    """Something a plugin registered: an importer or a channel backend."""

    kind: str
    name: str
    obj: object
    plugin: str


@dataclass
class Plugins:
    """The loaded plugin manager and what was found on the way."""

    manager: pluggy.PluginManager
    infos: list[PluginInfo] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    # Built-in entry points not imported yet: they only provide importers and
    # channels, so commands that need neither never pay for loading them.
    deferred: list = field(default_factory=list)

    def load_builtins(self) -> None:
        """Import and register the built-in plugins, once."""
        pending, self.deferred = self.deferred, []
        for entry, info in pending:
            _register_entry(self.manager, entry, info)

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object directly (tests, embedding applications)."""
        self.manager.register(plugin, name=name)
        self.manager.check_pending()
        self.infos.append(
            PluginInfo(name=name, module=getattr(plugin, "__name__", name))
        )

    def unregister(self, name: str) -> None:
        self.manager.unregister(name=name)
        self.infos = [info for info in self.infos if info.name != name]

    def provided(self, kind: str) -> dict[str, Provided]:
        """What every plugin registered of one kind, keyed by its name."""
        self.load_builtins()
        hook = {
            "importer": self.manager.hook.register_importers,
            "channel": self.manager.hook.register_channels,
        }[kind]
        found: dict[str, Provided] = {}
        self.conflicts = [c for c in self.conflicts if not c.startswith(kind)]
        # Each implementation is called on its own so every registration can
        # be credited to the plugin that made it; built-ins first, so their
        # names win, then the others in the order they were registered.
        builtin = {info.name for info in self.infos if info.builtin}
        impls = list(reversed(hook.get_hookimpls()))
        ordered = [i for i in impls if i.plugin_name in builtin] + [
            i for i in impls if i.plugin_name not in builtin
        ]
        for impl in ordered:

            def register(obj, _plugin=impl.plugin_name):
                name = getattr(obj, "name", None)
                if not isinstance(name, str) or not name:
                    raise TypeError(
                        f"plugin {_plugin}: a {kind} needs a non-empty name"
                    )
                if name in found:
                    self.conflicts.append(
                        f"{kind} {name!r} from plugin {_plugin} ignored: "
                        f"plugin {found[name].plugin} registered it first"
                    )
                    return
                found[name] = Provided(kind, name, obj, _plugin)

            started = time.perf_counter()
            impl.function(register=register)
            if _tracing():
                _trace(f"{hook.name} -> {impl.plugin_name}", started)
        return found

    def importers(self) -> dict[str, Provided]:
        return self.provided("importer")

    def channels(self) -> dict[str, Provided]:
        return self.provided("channel")


def _tracing() -> bool:
    return os.environ.get("COBRA_TRACE_HOOKS", "") not in ("", "0")


def _trace(what: str, started: float) -> None:
    elapsed = (time.perf_counter() - started) * 1000
    print(f"cobra hook: {what} ({elapsed:.2f} ms)", file=sys.stderr)


def _monitor(manager: pluggy.PluginManager) -> None:
    """Report each hook call made through pluggy, with its implementations."""
    starts: list[float] = []

    def before(hook_name, hook_impls, kwargs):
        starts.append(time.perf_counter())

    def after(outcome, hook_name, hook_impls, kwargs):
        names = ", ".join(impl.plugin_name for impl in reversed(hook_impls)) or "none"
        _trace(f"{hook_name}({', '.join(kwargs)}) -> [{names}]", starts.pop())

    manager.add_hookcall_monitoring(before, after)


def _selected() -> set[str] | None:
    """The third-party plugins to load, or None for all of them."""
    value = os.environ.get("COBRA_LOAD_PLUGINS")
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def load() -> Plugins:
    """Create the plugin manager and load every allowed entry point."""
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    if _tracing():
        _monitor(manager)
    plugins = Plugins(manager)
    wanted = _selected()

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(entry, "dist", None)
        info = PluginInfo(
            name=entry.name,
            module=entry.value,
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
        )
        info.builtin = (
            info.distribution == BUILTIN_DISTRIBUTION
            or entry.value.startswith(BUILTIN_MODULE_PREFIX + ".")
        )
        if (
            not info.builtin
            and wanted is not None
            and not ({info.name, info.distribution} & wanted)
        ):
            continue
        plugins.infos.append(info)
        if info.builtin:
            plugins.deferred.append((entry, info))
        else:
            _register_entry(manager, entry, info)
    return plugins


def _register_entry(manager: pluggy.PluginManager, entry, info: PluginInfo) -> None:
    """Import one entry point and register it; a failure is recorded, not raised."""
    if manager.has_plugin(info.name):
        info.error = f"another plugin is already registered as {info.name!r}"
    else:
        try:
            manager.register(entry.load(), name=info.name)
            manager.check_pending()
        except Exception as exc:  # a plugin's bug must not stop cobra
            if manager.has_plugin(info.name):
                manager.unregister(name=info.name)
            info.error = _describe(exc)
    if info.error:
        log.warning(
            "plugin %s (%s) was skipped: %s. COBRA_LOAD_PLUGINS=name,... "
            "loads only the plugins you name",
            info.name,
            info.distribution or info.module,
            info.error,
        )


_loaded: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded on first use."""
    global _loaded
    if _loaded is None:
        _loaded = load()
    return _loaded


def reset() -> None:
    """Forget the loaded plugins, so the next use loads them again (tests)."""
    global _loaded
    _loaded = None
