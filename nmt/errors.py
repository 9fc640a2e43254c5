"""The one exception type that reaches the user as a single line, not a traceback."""


class NmtError(Exception):
    """A problem with the user's input (file, config, model directory) that they can fix.

    The message must say what is wrong and where (file and line, config key), in one line.
    """


def one_line(error):
    """The informative first line of a library exception's message, for an NmtError's parentheses.

    Skips terminal colour codes and header lines such as "Error(s) in loading state_dict for X:".
    """
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in lines if not line.endswith(":")), lines[0] if lines else "")
    return detail or type(error).__name__
