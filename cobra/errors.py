"""Named exceptions of cobra's core.

The library raises these; only the command-line layer turns them into a
message and an exit code, so each kind of mistake always exits the same way:

- :class:`CobraInputError` (exit 2): the user's input is wrong (a config key, a
  file, an option); repeating the command unchanged will fail again.
- :class:`CobraWorkError` (exit 1): the input was fine but the work failed (a
  server did not answer, a disk was full); it may succeed later.
"""

EXIT_OK = 0
EXIT_WORK_FAILED = 1
EXIT_BAD_INPUT = 2
# sysexits' EX_TEMPFAIL: try again later (another `cobra run` is running).
EXIT_TEMPORARY = 75


class CobraError(Exception):
    """Base of every error cobra reports to the user without a traceback."""

    exit_code = EXIT_WORK_FAILED


class CobraInputError(CobraError):
    """Bad usage or bad input: the user has to change something."""

    exit_code = EXIT_BAD_INPUT


class CobraWorkError(CobraError):
    """A failure while working, with input that was itself valid."""

    exit_code = EXIT_WORK_FAILED


class ConfigError(CobraInputError):
    """The configuration file cannot be read or does not fit the schema."""


class MissingSecret(CobraInputError):
    """A config key names an environment variable that is not set."""


class StoreError(CobraInputError):
    """The database file cannot be opened or belongs to a newer cobra."""


class AlreadyRunning(CobraError):
    """Another process holds the lock of the work asked for: try again later."""

    exit_code = EXIT_TEMPORARY


class DatabaseBusy(CobraError):
    """Another process kept the database locked too long: try again later."""

    exit_code = EXIT_TEMPORARY
