"""The twilio channel backend (being written; registers nothing yet)."""
