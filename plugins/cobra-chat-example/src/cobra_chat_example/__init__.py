"""cobra-chat-example: a cobra channel that posts messages to a Matrix room.

The package's entry point (``matrix`` in the ``cobra`` group of its
pyproject.toml) names this module; cobra loads it and calls the hook below.
The backend itself lives in :mod:`cobra_chat_example.matrix`.
"""

import cobra
from cobra_chat_example.matrix import MatrixBackend

__version__ = "0.1.0"


@cobra.hookimpl
def register_channels(register):
    register(MatrixBackend())
