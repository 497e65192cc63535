"""Label and field selectors: Kubernetes' grammar, validation, string form and matching.

A port of ``k8s.io/apimachinery/pkg/labels`` (requirements, selectors, the lexer and parser of
``labels.Parse``), of ``metav1.LabelSelectorAsSelector`` with ``ValidateLabelSelector``'s rules, and
of ``k8s.io/apimachinery/pkg/fields`` (``fields.ParseSelector`` with its backslash escaping). Error
messages keep Kubernetes' wording, because users compare them with what kubectl prints.

Not here: which field names a kind supports (the store decides), label sets and their
``AsSelector``, ``RequiresExactMatch``/``Transform``, and any notion of objects.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter

import attrs

from store.validation import (
    FieldError,
    aggregate,
    is_qualified_name,
    is_valid_label_value,
    parse_int64,
)

_Matcher = Callable[[Mapping[str, str]], bool]


class InvalidSelector(ValueError):
    """A selector that does not parse or validate; ``errors`` holds the field errors behind it."""

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors)


class Operator(enum.StrEnum):
    """selection.Operator; the values are Kubernetes' own."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


# --- label requirements and selectors ------------------------------------------------------------


def _to_operator(value: str) -> Operator:
    return Operator(value)


def _sorted_values(values: Iterable[str]) -> tuple[str, ...]:
    # Deduplicated as well as sorted, so a requirement survives its own string form unchanged.
    return tuple(sorted(set(values)))


@attrs.frozen
class Requirement:
    """One condition on one label key; construction validates it as ``labels.NewRequirement`` does.

    ``values`` is kept sorted and without duplicates. ``in``/``notin`` need at least one value
    (the empty string counts), the equality operators exactly one, ``exists``/``!`` none, and
    ``gt``/``lt`` one integer.
    """

    key: str
    operator: Operator = attrs.field(converter=_to_operator)
    values: tuple[str, ...] = attrs.field(default=(), converter=_sorted_values)
    _matcher: _Matcher = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        errors = _requirement_errors(self.key, self.operator, self.values)
        if errors:
            raise InvalidSelector(aggregate(str(error) for error in errors), errors)
        object.__setattr__(self, "_matcher", _compile(self.key, self.operator, self.values))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Requirement.Matches: ``notin``/``!=`` match an absent key; ``gt``/``lt`` need an int."""
        return self._matcher(labels)

    def __str__(self) -> str:
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator is Operator.EXISTS:
            return self.key
        values = ",".join(self.values)
        if self.operator in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {self.operator.value} ({values})"
        return f"{self.key}{_SYMBOLS[self.operator]}{values}"


_SYMBOLS = {
    Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==",
    Operator.NOT_EQUALS: "!=",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}


def _requirement_errors(key: str, operator: Operator, values: tuple[str, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    if key_errors := is_qualified_name(key):
        errors.append(FieldError.invalid("key", key, "; ".join(key_errors)))
    if operator in (Operator.IN, Operator.NOT_IN):
        if not values:
            errors.append(
                FieldError.invalid("values", values, "for 'in', 'notin' operators, values set can't be empty")
            )
    elif operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS):
        if len(values) != 1:
            errors.append(
                FieldError.invalid("values", values, "exact-match compatibility requires one single value")
            )
    elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        if values:
            errors.append(
                FieldError.invalid("values", values, "values set must be empty for exists and does not exist")
            )
    else:
        if len(values) != 1:
            errors.append(
                FieldError.invalid(
                    "values", values, "for 'Gt', 'Lt' operators, exactly one value is required"
                )
            )
        errors.extend(
            FieldError.invalid(
                f"values[{index}]", value, "for 'Gt', 'Lt' operators, the value must be an integer"
            )
            for index, value in enumerate(values)
            if parse_int64(value) is None
        )
    for index, value in enumerate(values):
        if value_errors := is_valid_label_value(value):
            errors.append(FieldError.invalid(f"values[{index}][{key}]", value, "; ".join(value_errors)))
    return errors


def _compile(key: str, operator: Operator, values: tuple[str, ...]) -> _Matcher:
    """A matcher specialised for one requirement: selectors run in hot loops over every object."""
    if operator is Operator.EXISTS:
        return lambda labels: key in labels
    if operator is Operator.DOES_NOT_EXIST:
        return lambda labels: key not in labels
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        return _compile_comparison(key, int(values[0]), operator is Operator.GREATER_THAN)
    # An absent key reads as None, which equals no value: "in" fails and "notin" passes, as in Go.
    if operator in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
        if len(values) == 1:
            wanted = values[0]
            return lambda labels: labels.get(key) == wanted
        allowed = frozenset(values)
        return lambda labels: labels.get(key) in allowed
    if len(values) == 1:
        unwanted = values[0]
        return lambda labels: labels.get(key) != unwanted
    forbidden = frozenset(values)
    return lambda labels: labels.get(key) not in forbidden


def _compile_comparison(key: str, bound: int, greater: bool) -> _Matcher:
    def compare(labels: Mapping[str, str]) -> bool:
        text = labels.get(key)
        if text is None:
            return False
        number = parse_int64(text)
        if number is None:
            return False
        return number > bound if greater else number < bound

    return compare


def _sorted_by_key(requirements: Iterable[Requirement]) -> tuple[Requirement, ...]:
    # Stable, so requirements on one key keep their order, as Go's sort does for short selectors.
    return tuple(sorted(requirements, key=attrgetter("key")))


@attrs.frozen
class Selector:
    """A label selector: the AND of its requirements, kept sorted by key as Kubernetes keeps them.

    The empty selector matches everything. ``Selector.nothing()`` matches nothing; it stands for a
    nil ``LabelSelector``, which callers, not this module, translate.
    """

    requirements: tuple[Requirement, ...] = attrs.field(default=(), converter=_sorted_by_key)
    _matchers: tuple[_Matcher, ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_matchers", tuple(r._matcher for r in self.requirements))

    @classmethod
    def everything(cls) -> Selector:
        return MATCH_EVERYTHING

    @classmethod
    def nothing(cls) -> Selector:
        return MATCH_NOTHING

    def matches(self, labels: Mapping[str, str]) -> bool:
        # A loop rather than all(): no generator is allocated on this hot path.
        for matcher in self._matchers:  # noqa: SIM110
            if not matcher(labels):
                return False
        return True

    def empty(self) -> bool:
        """True when the selector does not restrict anything (it matches every label set)."""
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


class _NothingSelector(Selector):
    __slots__ = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return False

    def empty(self) -> bool:
        return False

    def __str__(self) -> str:
        # labels.Nothing() prints as "", the same as Everything(): the string form cannot tell them
        # apart, so do not round-trip this selector through text.
        return ""


MATCH_EVERYTHING = Selector()
MATCH_NOTHING: Selector = _NothingSelector()


# --- the label selector parser (labels.Parse) -----------------------------------------------------


class _Token(enum.Enum):
    END_OF_STRING = enum.auto()
    CLOSED_PAR = enum.auto()
    COMMA = enum.auto()
    DOES_NOT_EXIST = enum.auto()
    DOUBLE_EQUALS = enum.auto()
    EQUALS = enum.auto()
    GREATER_THAN = enum.auto()
    IDENTIFIER = enum.auto()
    IN = enum.auto()
    LESS_THAN = enum.auto()
    NOT_EQUALS = enum.auto()
    NOT_IN = enum.auto()
    OPEN_PAR = enum.auto()


_SYMBOL_TOKENS = {
    ")": _Token.CLOSED_PAR,
    ",": _Token.COMMA,
    "!": _Token.DOES_NOT_EXIST,
    "==": _Token.DOUBLE_EQUALS,
    "=": _Token.EQUALS,
    ">": _Token.GREATER_THAN,
    "<": _Token.LESS_THAN,
    "!=": _Token.NOT_EQUALS,
    "(": _Token.OPEN_PAR,
}
_KEYWORD_TOKENS = {"in": _Token.IN, "notin": _Token.NOT_IN}
_SPECIAL_CHARS = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
# Go's lexer reads bytes and uses 0 for "no more input", so a NUL character also ends a token.
_END_OF_INPUT = "\0"

_OPERATOR_TOKENS = {
    _Token.IN: Operator.IN,
    _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Token.GREATER_THAN: Operator.GREATER_THAN,
    _Token.LESS_THAN: Operator.LESS_THAN,
    _Token.NOT_IN: Operator.NOT_IN,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
}
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"
# labels.Parse validates keys against a nil field path, which Go prints as "<nil>"; kept so the
# messages read exactly as Kubernetes' do.
_NIL_PATH = "<nil>"


class _Lexer:
    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def tokens(self) -> list[tuple[_Token, str]]:
        """Every token up to and including END_OF_STRING."""
        scanned = [self._lex()]
        while scanned[-1][0] is not _Token.END_OF_STRING:
            scanned.append(self._lex())
        return scanned

    def _read(self) -> str:
        if self._pos < len(self._text):
            self._pos += 1
            return self._text[self._pos - 1]
        return _END_OF_INPUT

    def _unread(self) -> None:
        self._pos -= 1

    def _lex(self) -> tuple[_Token, str]:
        char = self._read()
        while char in _WHITESPACE:
            char = self._read()
        if char == _END_OF_INPUT:
            return _Token.END_OF_STRING, ""
        self._unread()
        if char in _SPECIAL_CHARS:
            return self._scan_symbol()
        return self._scan_identifier_or_keyword()

    def _scan_identifier_or_keyword(self) -> tuple[_Token, str]:
        chars: list[str] = []
        while (char := self._read()) != _END_OF_INPUT:
            if char in _SPECIAL_CHARS or char in _WHITESPACE:
                self._unread()
                break
            chars.append(char)
        literal = "".join(chars)
        return _KEYWORD_TOKENS.get(literal, _Token.IDENTIFIER), literal

    def _scan_symbol(self) -> tuple[_Token, str]:
        # The longest run of special characters that is still a token: "!=" rather than "!", "=".
        # Every special character alone is a token, so the first one always yields something.
        literal = ""
        while (char := self._read()) != _END_OF_INPUT:
            if char not in _SPECIAL_CHARS or literal + char not in _SYMBOL_TOKENS:
                self._unread()
                break
            literal += char
        return _SYMBOL_TOKENS[literal], literal


class _Parser:
    def __init__(self, text: str) -> None:
        self._items = _Lexer(text).tokens()
        self._position = 0

    def _lookahead(self, *, values: bool) -> tuple[_Token, str]:
        return _in_context(self._items[self._position], values=values)

    def _consume(self, *, values: bool) -> tuple[_Token, str]:
        self._position += 1
        return _in_context(self._items[self._position - 1], values=values)

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._lookahead(values=True)
            if token is _Token.END_OF_STRING:
                return requirements
            if token not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                raise InvalidSelector(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except InvalidSelector as exc:
                raise InvalidSelector(f"unable to parse requirement: {exc}", exc.errors) from None
            token, literal = self._consume(values=True)
            if token is _Token.END_OF_STRING:
                return requirements
            if token is not _Token.COMMA:
                raise InvalidSelector(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self._lookahead(values=True)
            if token not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                raise InvalidSelector(f"found '{literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_inferred_operator()
        if operator is not None:
            return Requirement(key, operator)
        operator = self._operator()
        if operator in (Operator.IN, Operator.NOT_IN):
            return Requirement(key, operator, self._value_set())
        return Requirement(key, operator, self._exact_value())

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        """The key, and the operator when the key alone decides it (``key``, ``!key``)."""
        operator = None
        token, literal = self._consume(values=True)
        if token is _Token.DOES_NOT_EXIST:
            operator = Operator.DOES_NOT_EXIST
            token, literal = self._consume(values=True)
        if token is not _Token.IDENTIFIER:
            raise InvalidSelector(f"found '{literal}', expected: identifier")
        if key_errors := is_qualified_name(literal):
            error = FieldError.invalid(_NIL_PATH, literal, "; ".join(key_errors))
            raise InvalidSelector(str(error), [error])
        next_token, _ = self._lookahead(values=True)
        if operator is None and next_token in (_Token.END_OF_STRING, _Token.COMMA):
            operator = Operator.EXISTS
        return literal, operator

    def _operator(self) -> Operator:
        token, literal = self._consume(values=False)
        operator = _OPERATOR_TOKENS.get(token)
        if operator is None:
            raise InvalidSelector(f"found '{literal}', expected: {_BINARY_OPERATORS}")
        return operator

    def _value_set(self) -> set[str]:
        """``(a,b,c)``; empty entries are the empty string, so ``()`` is ``{""}``."""
        token, literal = self._consume(values=True)
        if token is not _Token.OPEN_PAR:
            raise InvalidSelector(f"found '{literal}' expected: '('")
        token, literal = self._lookahead(values=True)
        if token is _Token.CLOSED_PAR:
            self._consume(values=True)
            return {""}
        if token not in (_Token.IDENTIFIER, _Token.COMMA):
            raise InvalidSelector(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifiers()
        self._consume(values=True)  # the ")" that ended the list
        return values

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            token, literal = self._consume(values=True)
            if token is _Token.IDENTIFIER:
                values.add(literal)
                token, literal = self._lookahead(values=True)
                if token is _Token.CLOSED_PAR:
                    return values
                if token is not _Token.COMMA:
                    raise InvalidSelector(f"found '{literal}', expected: ',' or ')'")
            elif token is _Token.COMMA:
                # A comma with nothing before or after it stands for the empty value.
                if not values:
                    values.add("")
                token, _ = self._lookahead(values=True)
                if token is _Token.CLOSED_PAR:
                    values.add("")
                    return values
                if token is _Token.COMMA:
                    values.add("")
            else:
                raise InvalidSelector(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        token, _ = self._lookahead(values=True)
        if token in (_Token.END_OF_STRING, _Token.COMMA):
            return {""}
        token, literal = self._consume(values=True)
        if token is not _Token.IDENTIFIER:
            raise InvalidSelector(f"found '{literal}', expected: identifier")
        return {literal}


def _in_context(item: tuple[_Token, str], *, values: bool) -> tuple[_Token, str]:
    # Where a value is expected, "in" and "notin" are plain words: "x in (in)" is valid.
    token, literal = item
    if values and token in (_Token.IN, _Token.NOT_IN):
        return _Token.IDENTIFIER, literal
    return token, literal


def parse_selector(text: str) -> Selector:
    """labels.Parse: ``x=a,y!=b,z in (c,d),w notin (e),v,!u,n>1``; raises ``InvalidSelector``."""
    return Selector(_Parser(text).parse())


# --- structured selectors (metav1.LabelSelector) --------------------------------------------------

_STRUCTURED_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def selector_from_structured(
    match_labels: Mapping[str, str] | None,
    match_expressions: Sequence[tuple[str, str, Sequence[str]]] | None,
) -> Selector:
    """metav1.LabelSelectorAsSelector, after ValidateLabelSelector's checks.

    ``match_expressions`` holds ``(key, operator, values)`` with the API's operators (``In``,
    ``NotIn``, ``Exists``, ``DoesNotExist``). With neither labels nor expressions the selector
    matches everything. A nil ``LabelSelector`` matches nothing in Kubernetes; that is the caller's
    case to handle (with ``Selector.nothing()``). Raises ``InvalidSelector`` carrying every field
    error, with paths relative to the selector (``matchExpressions[0].operator``).
    """
    labels = match_labels or {}
    expressions = match_expressions or ()
    if not labels and not expressions:
        return MATCH_EVERYTHING
    errors = _structured_errors(labels, expressions)
    if errors:
        raise InvalidSelector(aggregate(str(error) for error in errors), errors)
    requirements = [Requirement(key, Operator.EQUALS, (labels[key],)) for key in sorted(labels)]
    requirements.extend(
        Requirement(key, _STRUCTURED_OPERATORS[operator], values) for key, operator, values in expressions
    )
    return Selector(requirements)


def _structured_errors(
    labels: Mapping[str, str], expressions: Sequence[tuple[str, str, Sequence[str]]]
) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in sorted(labels):
        errors.extend(FieldError.invalid("matchLabels", key, m) for m in is_qualified_name(key))
        value = labels[key]
        errors.extend(FieldError.invalid("matchLabels", value, m) for m in is_valid_label_value(value))
    for index, (key, operator, values) in enumerate(expressions):
        path = f"matchExpressions[{index}]"
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(
                    FieldError.required(
                        f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"
                    )
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    FieldError.forbidden(
                        f"{path}.values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errors.append(FieldError.invalid(f"{path}.operator", operator, "not a valid selector operator"))
        errors.extend(FieldError.invalid(f"{path}.key", key, m) for m in is_qualified_name(key))
        for value_index, value in enumerate(values):
            errors.extend(
                FieldError.invalid(f"{path}.values[{value_index}]", value, m)
                for m in is_valid_label_value(value)
            )
    return errors


# --- field selectors (fields.ParseSelector) -------------------------------------------------------


def _to_field_operator(value: str) -> Operator:
    operator = Operator(value)
    if operator is Operator.DOUBLE_EQUALS:
        return Operator.EQUALS
    if operator not in (Operator.EQUALS, Operator.NOT_EQUALS):
        raise InvalidSelector(f"field selectors support only =, == and !=, not {value!r}")
    return operator


@attrs.frozen
class FieldRequirement:
    """``field=value`` (``==`` is the same) or ``field!=value``; an absent field reads as ""."""

    field: str
    operator: Operator = attrs.field(converter=_to_field_operator)
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        if self.operator is Operator.EQUALS:
            return fields.get(self.field, "") == self.value
        return fields.get(self.field, "") != self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator.value}{escape_field_value(self.value)}"


def _sorted_terms(requirements: Iterable[FieldRequirement]) -> tuple[FieldRequirement, ...]:
    # fields.ParseSelector sorts its terms as text; sorting here also makes equal selectors equal.
    return tuple(sorted(requirements, key=str))


@attrs.frozen
class FieldSelector:
    """A field selector: the AND of its requirements. Which fields exist is up to the caller."""

    requirements: tuple[FieldRequirement, ...] = attrs.field(default=(), converter=_sorted_terms)
    _fields: frozenset[str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_fields", frozenset(r.field for r in self.requirements))

    def matches(self, fields: Mapping[str, str]) -> bool:
        # A loop rather than all(): no generator is allocated on this hot path.
        for requirement in self.requirements:  # noqa: SIM110
            if not requirement.matches(fields):
                return False
        return True

    def fields(self) -> frozenset[str]:
        """The field names the selector reads."""
        return self._fields

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


_FIELD_OPERATORS = ("!=", "==", "=")  # "==" before "=", or "a==b" would leave "=b" as the value
_FIELD_SPECIAL_CHARS = frozenset("\\,=")


def parse_field_selector(text: str) -> FieldSelector:
    """fields.ParseSelector: ``a=b,c!=d``; values escape ``\\``, ``,`` and ``=`` with ``\\``."""
    requirements = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise InvalidSelector(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, raw_value = split
        value = unescape_field_value(raw_value)
        # ParseSelector drops a term whose field and value are both empty ("=" selects everything).
        if field or value:
            requirements.append(FieldRequirement(field, Operator(operator), value))
    return FieldSelector(requirements)


def escape_field_value(value: str) -> str:
    """fields.EscapeValue: backslash-escape ``\\``, ``,`` and ``=`` for use in a field selector."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(text: str) -> str:
    """fields.UnescapeValue: undo ``escape_field_value``; raises ``InvalidSelector``."""
    chars: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            if char not in _FIELD_SPECIAL_CHARS:
                raise InvalidSelector(f"invalid field selector: invalid escape sequence: \\{char}")
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _FIELD_SPECIAL_CHARS:
            # Go formats the rune with %v, which prints its code point ("61" for "=").
            raise InvalidSelector(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            chars.append(char)
    if escaped:
        raise InvalidSelector("invalid field selector: invalid escape sequence: \\")
    return "".join(chars)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped; the escapes stay in the terms."""
    if not text:
        return []
    terms = []
    start = 0
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """(field, operator, raw value) at the first operator; field names have no escaping."""
    for index in range(len(term)):
        for operator in _FIELD_OPERATORS:
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator) :]
    return None
