"""cobra: a command-line toolkit for collecting accounts receivable.

Plugins import :data:`hookimpl` from here to mark their hook implementations::

    import cobra

    @cobra.hookimpl
    def register_importers(register):
        ...
"""

__version__ = "0.1.0"


def __getattr__(name):
    # hookimpl needs pluggy; resolving it lazily keeps `import cobra` (and so
    # `cobra --version`) from paying for pluggy when no plugin is involved.
    if name == "hookimpl":
        from cobra.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'cobra' has no attribute {name!r}")
