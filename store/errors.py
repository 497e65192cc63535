"""Typed API errors, each carrying the Kubernetes status reason, HTTP code and message.

A store operation that fails raises one of these and changes nothing. Messages follow the apiserver's
wording (``pods "web-1" not found``) so that what a user sees matches what kubectl would have said.
"""

from __future__ import annotations

from collections.abc import Sequence

from store.validation import FieldError, aggregate


class StoreError(Exception):
    """Base of every store error: ``reason`` and ``code`` as in a Kubernetes ``Status``."""

    reason: str = "InternalError"
    code: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(StoreError):
    reason = "BadRequest"
    code = 400


class Forbidden(StoreError):
    reason = "Forbidden"
    code = 403


class NotFound(StoreError):
    reason = "NotFound"
    code = 404


class MethodNotAllowed(StoreError):
    reason = "MethodNotAllowed"
    code = 405


class AlreadyExists(StoreError):
    reason = "AlreadyExists"
    code = 409


class Conflict(StoreError):
    reason = "Conflict"
    code = 409


class Gone(StoreError):
    """The requested revision is older than the history the store keeps (HTTP 410, reason Expired)."""

    reason = "Expired"
    code = 410


class Invalid(StoreError):
    """The object breaks validation; ``causes`` lists every field error, not just the first."""

    reason = "Invalid"
    code = 422

    def __init__(self, qualified_kind: str, name: str, causes: Sequence[FieldError]) -> None:
        self.causes = tuple(causes)
        # errors.NewInvalid: the field errors as one aggregate, "[a, b]" when there are several.
        detail = aggregate(str(cause) for cause in self.causes)
        super().__init__(f'{qualified_kind} "{name}" is invalid: {detail}')


class InternalError(StoreError):
    reason = "InternalError"
    code = 500


def not_found(resource: str, name: str) -> NotFound:
    return NotFound(f'{resource} "{name}" not found')


def already_exists(resource: str, name: str) -> AlreadyExists:
    return AlreadyExists(f'{resource} "{name}" already exists')


def conflict(resource: str, name: str, detail: str) -> Conflict:
    return Conflict(f'Operation cannot be fulfilled on {resource} "{name}": {detail}')


#: The apiserver's optimistic-lock message (registry/generic/registry/store.go).
OPTIMISTIC_LOCK_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
