"""The error family a user can see.

A :class:`DomainError` carries a message written for the user, in the form
*To <action> <object> "<ref>", you must <fix>.* The app-level handler rolls the unit of work
back and shows the message.
"""


class DomainError(Exception):
    """A business rule refused an operation; ``str(err)`` is shown to the user."""

    status_code = 409

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    """A referenced record does not exist."""

    status_code = 404


class PermissionDenied(DomainError):
    """The actor may not perform this operation (a rule beyond the view's permission)."""

    status_code = 403


class ValidationError(DomainError):
    """Input does not satisfy a rule; ``field`` names the offending field when known."""

    status_code = 422
