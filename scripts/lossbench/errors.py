"""The one error type for a user's mistake (bad input, config, data, run folders).

``lossbench`` reports a ``LossbenchError`` as one log line naming the file or key and exits 1;
any other exception is a bug and keeps its traceback.
"""


class LossbenchError(Exception):
    """Something the user can fix; the message names the file or key, what was expected and found."""
