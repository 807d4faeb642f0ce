"""The one exception type for problems a user can fix."""


class AutoQError(Exception):
    """Bad input or an unmet precondition; the command line prints it as one line and exits 2.

    The message names the problem and, where there is one, the fix.
    """
