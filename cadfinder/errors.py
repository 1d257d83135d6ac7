"""User-facing errors: every one carries a message fit to print on one line."""


class CadfinderError(Exception):
    """An error the user can act on; the CLI prints it as one line, no traceback."""


class DatabaseError(CadfinderError):
    """The database could not be reached or refused the operation."""


class InputError(CadfinderError):
    """A file or value given by the user is unusable (empty, corrupt, NaN, wrong units...)."""


class GenomeError(InputError):
    """A genome failed validation or could not be instantiated."""
