"""The cobra command line with a plugin that stops a run while it plans.

For test_run_cron.py: ``python tests/cron_pause.py -q run ...`` is ``cobra
-q run ...`` with one more plugin, whose ``diagnose`` hook, the first time
planning asks it about a customer, creates the file named by
``COBRA_PAUSE_MARKER`` and sleeps, so the test can kill the run in the
middle of planning. It returns None, leaving every customer to the
configured rules, so the plan is the one ``cobra run`` makes without it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cobra
from cobra import plugins
from cobra.cli import main


class plugin:  # noqa: N801 - a plugin namespace, as a module would be
    paused = False

    @staticmethod
    @cobra.hookimpl
    def diagnose(evidence):
        marker = os.environ.get("COBRA_PAUSE_MARKER")
        if marker and not plugin.paused:
            plugin.paused = True
            Path(marker).write_text(evidence.account, encoding="utf-8")
            time.sleep(120)  # the test kills the run long before this ends
        return None


if __name__ == "__main__":
    plugins.get_plugins().register(plugin, "cron-pause")
    sys.argv[0] = "cobra"
    main()
