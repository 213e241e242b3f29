"""The task channel backend (being written; registers nothing yet)."""
