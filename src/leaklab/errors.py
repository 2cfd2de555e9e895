"""The errors that end a run with one clear line (the command line prints it, exit 2): the bottom layer, so that
any module can raise them."""


class ParameterError(ValueError):
    """A parameter that the experiment does not accept; the message says what is allowed."""


class RunError(RuntimeError):
    """A run, a notebook or the book build cannot go on: a failing cell's error, a checkpoint that is damaged or
    was written for other data."""
