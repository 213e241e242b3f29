"""The file channel backend (being written; registers nothing yet)."""
