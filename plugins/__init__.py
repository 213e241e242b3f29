"""The importers and channels that ship with cobra (installed as ``cobra_plugins``).

Each module here is an ordinary cobra plugin, registered through the ``cobra``
entry-point group in ``pyproject.toml`` exactly as a third-party plugin is.
"""
