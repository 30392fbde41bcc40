"""The one exception type the shell shows to people as a single line."""


class UserError(Exception):
    """Something a person asked for that cannot be done as asked; the message says why.

    The CLI prints it as one line and exits 1; anything else is a bug.
    """
