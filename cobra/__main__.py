"""Allow ``python -m cobra``."""

from cobra.cli import main

main()
