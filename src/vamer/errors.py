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


_swallowed: list[int] = []


def note_swallowed_stop(signum: int) -> None:
    """A :class:`JobStopped` raised inside a C library's callback into Python (openSMILE's, through
    ctypes) is swallowed there; remember it, so :func:`raise_swallowed_stop` raises it again once
    the library has returned."""
    _swallowed.append(int(signum))


def raise_swallowed_stop() -> None:
    """Raise the stop a C callback swallowed, if any (call it right after such a library returns)."""
    if _swallowed:
        signum = _swallowed[0]
        _swallowed.clear()
        raise JobStopped(signum)


def _stop(signum: int, frame) -> None:
    raise JobStopped(signum)


def _keeping_swallowed_stops(hook):
    """``sys.unraisablehook`` that keeps a swallowed stop.  A signal handler that runs inside a C
    library's callback into Python (openSMILE's, through ctypes) has its exception swallowed there
    ("Exception ignored on calling ctypes callback"): a SIGTERM then let the job go on for a minute.
    The stop is raised again when the library returns (:func:`raise_swallowed_stop`)."""

    def handle(unraisable) -> None:
        if isinstance(unraisable.exc_value, JobStopped):
            note_swallowed_stop(unraisable.exc_value.signum)
            return
        hook(unraisable)

    return handle


def install_stop_handlers() -> None:
    """Make SIGTERM (schedulers, containers, systemd) and SIGINT stop a command with 128 + the
    signal and one line that says so.  Lightning keeps these handlers: during fit it adds its own in
    front and calls ours after it.  Without them SIGTERM ended a training with exit status 0, and
    SIGINT inside fit with 1."""
    import signal
    import sys

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    sys.unraisablehook = _keeping_swallowed_stops(sys.unraisablehook)
