"""The framework's user-facing error types; this module imports nothing of sciarch.

Every error here carries a one-line message meant for the user; ``sciarch.cli.main``
prints it as ``error: <message>`` and exits with status 2.

Example:
    >>> from sciarch.errors import ConfigError
    >>> issubclass(ConfigError, ValueError)
    True
"""


class ConfigError(ValueError):
    """A configuration problem; the message is one line meant for the user."""
