"""SIGTERM as a flag for the Python test workers: install() once, then poll stopping()."""
import signal

_stopping = False


def _on_term(signum, frame):
    global _stopping
    _stopping = True


def install():
    """Makes SIGTERM set the flag instead of ending the process."""
    signal.signal(signal.SIGTERM, _on_term)


def stopping():
    """Whether SIGTERM has arrived since install()."""
    return _stopping
