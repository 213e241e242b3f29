"""Starter configuration shipped with cobra (installed as ``cobra_starter``).

These files are data, read through :mod:`importlib.resources`: ``cobra.toml``
is both the file ``cobra init`` writes and the embedded default cobra runs on
when no config file exists.
"""
