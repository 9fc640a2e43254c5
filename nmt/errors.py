"""The one exception type that reaches the user as a single line, not a traceback."""


class NmtError(Exception):
    """A problem with the user's input (file, config, model directory) that they can fix.

    The message must say what is wrong and where (file and line, config key), in one line.
    """
