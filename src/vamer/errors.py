"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class VamerError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class NotADatasetError(VamerError):
    """The given path is not a dataset vamer can read."""
