"""The stand-in provider of provider_backend.py, able to look a message up.

Some providers can be asked whether they already have a message sent with a
given key; after a crash, cobra asks them instead of marking the message for
a person. This backend (``provider-lookup``) answers from its journal, the
provider's own record, and adds two options to its channel's table:

- ``pause_after``: seconds to wait after the provider took a message and
  before answering, the window in which a killed sender leaves a message
  the provider has in ``sending``;
- ``lookup_error``: the lookup fails with a refused connection, as when the
  provider is down while cobra recovers;
- ``lookup_gate``: a path; each lookup, once it has its answer, creates
  ``PATH.asked`` and waits (a minute at most) until ``PATH`` exists before
  answering, so a test can hold a recovering sender between asking the
  provider and recording what it said.
"""

from __future__ import annotations

import time
from pathlib import Path

from provider_backend import ProviderBackend, ProviderSession, journal_keys

import cobra


class LookupSession(ProviderSession):
    def __init__(self, settings):
        super().__init__(settings)
        self.pause_after = float(settings.get("pause_after", 0))
        self.lookup_error = bool(settings.get("lookup_error", False))
        gate = settings.get("lookup_gate")
        self.lookup_gate = Path(str(gate)) if gate else None

    def send(self, message) -> str:
        provider_id = super().send(message)
        time.sleep(self.pause_after)
        return provider_id

    def lookup(self, key: str) -> str | None:
        if self.lookup_error:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        found = f"P-found-{key}" if key in journal_keys(self.journal) else None
        if self.lookup_gate is not None:
            Path(f"{self.lookup_gate}.asked").touch()
            deadline = time.monotonic() + 60
            while not self.lookup_gate.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.lookup_gate} never appeared")
                time.sleep(0.01)
        return found


class LookupProviderBackend(ProviderBackend):
    name = "provider-lookup"
    description = "The stand-in provider, able to look a message up by its key."
    concurrency = 1
    can_lookup = True

    def connect(self, settings) -> LookupSession:
        return LookupSession(settings)


class plugin:
    @staticmethod
    @cobra.hookimpl
    def register_channels(register):
        register(LookupProviderBackend())


if __name__ == "__main__":
    # The cobra command line with this backend installed, in its own process.
    import sys

    from cobra import plugins
    from cobra.cli import main

    plugins.get_plugins().register(plugin, "provider-lookup")
    sys.argv[0] = "cobra"
    main()
