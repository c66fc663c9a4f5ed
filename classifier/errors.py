"""The project's exceptions.

Every error a user can cause derives from :class:`ClassifierError`; the CLI turns
these into a one-line ``Error: ...`` message and a non-zero exit code, never a
traceback. Messages say what is wrong and how to fix it.
"""


def counted(count: int, noun: str) -> str:
    """``"1 row"``, ``"2 rows"``, ``"1,000 errors"``: a count and its noun, for messages.

    Examples
    --------
    >>> counted(1, "error"), counted(1500, "row")
    ('1 error', '1,500 rows')
    """
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class ClassifierError(Exception):
    """Base class for errors the user can act on."""

    exit_code = 1


class DataError(ClassifierError, ValueError):
    """Labelled data that fails validation (schema, labels, duplicates, conflicts)."""


class InputError(ClassifierError, ValueError):
    """An input file that cannot be read at all (missing, unknown format, missing column)."""

    exit_code = 2


class NoWorkspaceError(ClassifierError, FileNotFoundError):
    """A command that writes labels or models, run where no workspace is found."""

    exit_code = 2


class ModelNotFoundError(ClassifierError, FileNotFoundError):
    """No model in the registry, or the requested version does not exist."""


class UnknownVersionError(ModelNotFoundError):
    """A version asked for by name (``--model``, ``models promote``) that the registry does not hold."""

    exit_code = 2


class ModelIntegrityError(ClassifierError, ValueError):
    """A saved model whose files do not match its model card."""


class RegistryLockedError(ClassifierError, RuntimeError):
    """Another training, retraining or promotion holds the registry's lock."""


class VersionMismatchError(ClassifierError, RuntimeError):
    """A pickled model saved by library versions that cannot be trusted to load it."""


class ClusterError(ClassifierError, RuntimeError):
    """The Dask engine cannot run: Dask missing, scheduler unreachable, workers lost."""


class OutputError(ClassifierError, OSError):
    """An output that cannot be written: no space left, a read-only folder, no permission.

    Also an :class:`OSError`, so that code catching write failures still catches it.
    """


# ``score`` exits with this code when more rows failed than ``--max-errors`` allows (by
# default: when every row failed). The output is written all the same: its error column
# says why each row failed. 1 and 2 are the errors above, 130 an interrupt.
EXIT_TOO_MANY_ERRORS = 3


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what was and was not written by then (``message``).

    A :class:`KeyboardInterrupt`, so that an interrupt still stops every caller.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
