"""The small hierarchy of errors a user can cause.

Every `VidrestoreError` reaching the CLI becomes one line on stderr and a
non-zero exit; anything else is a bug and keeps its traceback.
"""


class VidrestoreError(Exception):
    """Base class: a problem the user can fix; the message says how."""

    exit_code = 1


class InputError(VidrestoreError):
    """The input is missing, empty, unreadable or not a video/image."""


class OutputError(VidrestoreError):
    """The output path cannot be written (exists, is the input, no such folder)."""


class UsageError(VidrestoreError):
    """An option value that cannot work (unknown model, scale or codec)."""

    exit_code = 2


class BackendUnavailable(VidrestoreError):
    """A backend or device that this machine cannot provide."""


class WeightsError(VidrestoreError):
    """A weights file that is missing or does not match its architecture."""


class Interrupted(VidrestoreError):
    """The run was stopped by SIGINT or SIGTERM; exit code follows the signal."""

    def __init__(self, signum: int, outcome: str = "nothing was written") -> None:
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}; {outcome}")
        self.signum = signum
        self.exit_code = 128 + signum
