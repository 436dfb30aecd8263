"""The error family a user can see.

A :class:`DomainError` carries a message written for the user, in the form
*To <action> <object> "<ref>", you must <fix>.* The app-level handler rolls the unit of work
back and shows the message.
"""

from __future__ import annotations

from collections.abc import Mapping


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


class FieldErrors(ValidationError):
    """Several fields refused at once; ``errors`` maps each field to its message.

    Raised where a user should see every problem of a form in one go (the settings page), so
    a view can put each message next to its field (:func:`erp.core.viewhelpers.form_errors`).
    """

    def __init__(self, message: str, errors: Mapping[str, str]):
        """Keep every field's message; ``field`` is the first one's."""
        self.errors = dict(errors)
        super().__init__(message, field=next(iter(self.errors), None))
