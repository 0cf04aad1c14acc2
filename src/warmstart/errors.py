"""Error types that reach the user.

``InputError`` is bad input the user can fix (a path, a file's line or field, a setting): the CLI
prints its message and exits with status 2. Anything else is a bug and keeps its traceback.
"""


class InputError(ValueError):
    """Bad user input; the message names the file, line or field and says what to do."""


class ConfigError(ValueError):
    """A recipe or override names an unknown key or holds an impossible value."""
