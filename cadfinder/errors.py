"""User-facing errors: every one carries a message fit to print on one line."""


class CadfinderError(Exception):
    """An error the user can act on; the CLI prints it as one line, no traceback."""


class DatabaseError(CadfinderError):
    """The database could not be reached or refused the operation."""


class DiskError(DatabaseError):
    """The disk that holds the database is full or read-only: nothing stored is lost, and the
    same command resumes once there is room (or it is writable again)."""

    SYMPTOMS = {"No space left on device": ("full", "make room on it"),
                "Read-only file system": ("read-only", "make it writable again")}

    @classmethod
    def from_message(cls, text: str) -> "DiskError | None":
        """The error for a server's message (or log line) that says its disk is full or
        read-only; None for any other message."""
        for symptom, (state, remedy) in cls.SYMPTOMS.items():
            if symptom in text:
                return cls(f"the database's disk is {state} ({text.strip()}); {remedy}, then run the same "
                           "command again: what was stored is kept")
        return None


class InputError(CadfinderError):
    """A file or value given by the user is unusable (empty, corrupt, NaN, wrong units...)."""


class GenomeError(InputError):
    """A genome failed validation or could not be instantiated."""
