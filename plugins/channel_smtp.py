"""The smtp channel backend (being written; registers nothing yet)."""
