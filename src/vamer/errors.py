"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class VamerError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class NotADatasetError(VamerError):
    """The given path is not a dataset vamer can read."""


class JobStopped(BaseException):
    """The job was stopped from outside (SIGTERM from a scheduler, a container runtime or systemd;
    SIGINT from Ctrl-C).  A BaseException, so that no ``except Exception`` on the way, neither
    vamer's nor Lightning's, turns it into a normal return; the command line exits with
    ``128 + signal`` (143, 130)."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = int(signum)
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
