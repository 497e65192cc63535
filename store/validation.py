"""Name and label validation with apimachinery's rules and messages, and the field error they feed.

A port of ``k8s.io/apimachinery/pkg/util/validation``: each ``is_*`` check returns the list of
problems (empty when the value is valid), worded exactly as Kubernetes words them, because users
compare them with what kubectl prints. ``FieldError`` pairs one such message with the JSON path it
is about; the store collects them into an ``Invalid`` error. ``parse_int64`` reads an integer the
way Go's ``strconv.ParseInt`` does, for the places where Kubernetes compares strings as numbers.

This module checks single strings only. It does not know about objects, kinds or which field holds
which kind of name; callers decide that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import attrs

LABEL_VALUE_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_ERR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_ERR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)

# fullmatch, not match + "$": Python's "$" also matches before a trailing newline, Go's does not.
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)

_NAME_EXAMPLES = ("MyName", "my.name", "123-abc")


def is_qualified_name(value: str) -> list[str]:
    """Problems with ``value`` as a label or annotation key: ``[dns-subdomain/]name``."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part " + _empty_error())
        else:
            errors.extend("prefix part " + message for message in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_ERR, _QUALIFIED_NAME_FMT, *_NAME_EXAMPLES)
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part " + _empty_error())
    elif _go_len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errors.append("name part " + _max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errors.append("name part " + _regex_error(_QUALIFIED_NAME_ERR, _QUALIFIED_NAME_FMT, *_NAME_EXAMPLES))
    return errors


def is_valid_label_value(value: str) -> list[str]:
    """Problems with ``value`` as a label value (which may be empty)."""
    errors: list[str] = []
    if _go_len(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(_max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(_regex_error(_LABEL_VALUE_ERR, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def is_dns1123_label(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1123 label (a namespace name, a container name, ...)."""
    errors: list[str] = []
    if _go_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(_max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            # A valid subdomain that is not a valid label, with the length already reported: dots.
            errors.append("must not contain dots")
        else:
            errors.append(_regex_error(_DNS1123_LABEL_ERR, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1123 subdomain (most object names)."""
    errors: list[str] = []
    if _go_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(_max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_ERR, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def is_dns1035_label(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1035 label (a Service name: it starts with a letter)."""
    errors: list[str] = []
    if _go_len(value) > DNS1035_LABEL_MAX_LENGTH:
        errors.append(_max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errors.append(_regex_error(_DNS1035_LABEL_ERR, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def is_valid_port_name(port: str) -> list[str]:
    """Problems with ``port`` as an IANA service name (a named container or target port)."""
    errors: list[str] = []
    if _go_len(port) > 15:
        errors.append(_max_len_error(15))
    if not _PORT_NAME_CHARSET_RE.fullmatch(port):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER_RE.search(port):
        errors.append("must contain at least one letter (a-z)")
    if "--" in port:
        errors.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


_PORT_NAME_CHARSET_RE = re.compile("[-a-z0-9]+")
_PORT_NAME_LETTER_RE = re.compile("[a-z]")


def mask_trailing_dash(prefix: str) -> str:
    """apimachinery's maskTrailingDash, for checking a generateName prefix with the name rules.

    Upstream replaces the last *two* characters with "a" when the prefix ends in a dash; kept as is,
    since it decides which prefixes pass.
    """
    if len(prefix) > 1 and prefix.endswith("-"):
        return prefix[:-2] + "a"
    return prefix


@attrs.frozen
class FieldError:
    """One problem with one field, at a wire path (``spec.template.spec.containers[0].image``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    @classmethod
    def invalid(cls, path: str, value: str | Sequence[str], detail: str) -> FieldError:
        """field.Invalid: the value is shown the way Go's ``%q`` / ``%#v`` would show it."""
        return cls(path, f"Invalid value: {go_repr(value)}: {detail}")

    @classmethod
    def required(cls, path: str, detail: str = "") -> FieldError:
        """field.Required: "Required value", then the detail if there is one."""
        return cls(path, f"Required value: {detail}" if detail else "Required value")

    @classmethod
    def forbidden(cls, path: str, detail: str) -> FieldError:
        """field.Forbidden."""
        return cls(path, f"Forbidden: {detail}")


def aggregate(messages: Iterable[str]) -> str:
    """utilerrors.Aggregate's message: one error as is, several as ``[a, b]``, duplicates once.

    field.ErrorList.ToAggregate drops repeated messages too, so an Invalid error's message says each once.
    """
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def parse_int64(text: str) -> int | None:
    """``strconv.ParseInt(text, 10, 64)``: an optional sign, ASCII digits only, within int64."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    # int() alone would also take spaces, underscores and non-ASCII digits.
    if not digits or not all("0" <= char <= "9" for char in digits):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def _go_quote(text: str) -> str:
    """``text`` quoted like Go's ``%q`` (strconv.Quote), which Kubernetes uses for bad values."""
    out = ['"']
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_repr(value: str | Sequence[str]) -> str:
    """``value`` as Go prints a bad string or []string value (``%q`` / ``%#v``)."""
    if isinstance(value, str):
        return _go_quote(value)
    return "[]string{" + ", ".join(_go_quote(item) for item in value) + "}"


def _go_len(value: str) -> int:
    # Go's len() counts UTF-8 bytes; the limits are in bytes.
    return len(value.encode())


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _empty_error() -> str:
    return "must be non-empty"


def _regex_error(message: str, regex: str, *examples: str) -> str:
    # Kubernetes joins examples as "'a',  or 'b', " (two spaces); kept so messages compare equal.
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{regex}')"
