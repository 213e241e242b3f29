"""The kannel channel backend (being written; registers nothing yet)."""
