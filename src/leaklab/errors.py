"""The errors that end a run with one clear line (the command line prints it, exit 2): the bottom layer, so that
any module can raise them."""


class ParameterError(ValueError):
    """A parameter that the experiment does not accept; the message says what is allowed."""


class RunError(RuntimeError):
    """A notebook or the book build failed; the message carries the failing cell's error."""
