"""The webhook channel backend (being written; registers nothing yet)."""
