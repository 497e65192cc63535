"""Exact resource quantities (``500Mi``, ``100m``, ``1.5Gi``), read and written as Kubernetes does.

A port of ``k8s.io/apimachinery/pkg/api/resource``: ``ParseQuantity``'s grammar, its rounding
(anything finer than a nano-unit rounds up, away from zero) and its cap on binary values,
``String()``'s canonical form, ``Value()``/``MilliValue()``, comparison and addition. A value is an
integer mantissa times a power of ten, never a float, so arithmetic and comparison are exact.

Not here: the float accessors, ``Mul``/``Neg``/``RoundUp``, the JSON/protobuf/CBOR encodings, and
any idea of which resource (cpu, memory, ...) a quantity measures.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import attrs

from store.validation import parse_int64

MAX_INT64 = 2**63 - 1
#: The finest unit a parsed quantity keeps: 10**-9.
_NANO = -9
#: Digits the parser's fast path reads as one int64 (apimachinery's maxInt64Factors).
_FAST_PATH_DIGITS = 18
#: The parser rejects exponents beyond an int32, as apimachinery's suffix parser does.
_MAX_EXPONENT = 2**31 - 1
#: 10**19 is the first power of ten past the int64 range.
_INT64_DECIMAL_DIGITS = 19

_ERR_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_ERR_NUMERIC = "unable to parse numeric part of quantity"
_ERR_SUFFIX = "unable to parse quantity's suffix"

_SUFFIX_CHARS = frozenset("eEinumkKMGTP")


class Format(enum.StrEnum):
    """How a quantity prints; parsing remembers the format its suffix implied."""

    DECIMAL_EXPONENT = "DecimalExponent"  # 12e6
    BINARY_SI = "BinarySI"  # 12Mi = 12 * 2**20
    DECIMAL_SI = "DecimalSI"  # 12M = 12 * 10**6


#: suffix -> (base, exponent, format)
_SUFFIXES: dict[str, tuple[int, int, Format]] = {
    "n": (10, -9, Format.DECIMAL_SI),
    "u": (10, -6, Format.DECIMAL_SI),
    "m": (10, -3, Format.DECIMAL_SI),
    "": (10, 0, Format.DECIMAL_SI),
    "k": (10, 3, Format.DECIMAL_SI),
    "M": (10, 6, Format.DECIMAL_SI),
    "G": (10, 9, Format.DECIMAL_SI),
    "T": (10, 12, Format.DECIMAL_SI),
    "P": (10, 15, Format.DECIMAL_SI),
    "E": (10, 18, Format.DECIMAL_SI),
    "Ki": (2, 10, Format.BINARY_SI),
    "Mi": (2, 20, Format.BINARY_SI),
    "Gi": (2, 30, Format.BINARY_SI),
    "Ti": (2, 40, Format.BINARY_SI),
    "Pi": (2, 50, Format.BINARY_SI),
    "Ei": (2, 60, Format.BINARY_SI),
}
_DECIMAL_SUFFIX_BY_EXPONENT = {exp: s for s, (b, exp, _) in _SUFFIXES.items() if b == 10}
_BINARY_SUFFIX_BY_POWER_OF_1024 = {exp // 10: s for s, (b, exp, _) in _SUFFIXES.items() if b == 2}


class InvalidQuantity(ValueError):
    """``text`` is not a quantity; the message is apimachinery's, word for word."""

    def __init__(self, text: str, message: str) -> None:
        super().__init__(message)
        self.text = text


@attrs.frozen(repr=False)
class Quantity:
    """An exact amount, ``mantissa * 10**exponent``, and the format it prints in.

    Equality, hashing and ordering compare the amount only: ``1Ki == 1024``. The mantissa carries no
    trailing zeros, so equal amounts have equal fields.
    """

    mantissa: int
    exponent: int = 0
    format: Format = attrs.field(default=Format.DECIMAL_SI, eq=False)
    # apimachinery prints a parsed quantity as it was written when the spelling is already (nearly)
    # canonical, so "+1" and "1E3" come back unchanged; kept so our output matches kubectl's.
    _spelling: str | None = attrs.field(default=None, init=False, eq=False)

    def __attrs_post_init__(self) -> None:
        mantissa, exponent = self.mantissa, self.exponent
        if mantissa == 0:
            exponent = 0
        else:
            while mantissa % 10 == 0:
                mantissa //= 10
                exponent += 1
        object.__setattr__(self, "mantissa", mantissa)
        object.__setattr__(self, "exponent", exponent)

    def __str__(self) -> str:
        return self._spelling if self._spelling is not None else _canonical(self)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r}, format={self.format.value})"

    def is_zero(self) -> bool:
        return self.mantissa == 0

    def value(self) -> int:
        """The amount rounded away from zero to a whole number; saturates at the int64 range."""
        return _scaled_value(self.mantissa, self.exponent, 0)

    def milli_value(self) -> int:
        """The amount in thousandths, rounded up away from zero; saturates at the int64 range."""
        return _scaled_value(self.mantissa, self.exponent, -3)

    def __add__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._plus(other.mantissa, other.exponent, other.format)

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._plus(-other.mantissa, other.exponent, other.format)

    def __lt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return _compare(self.mantissa, self.exponent, other.mantissa, other.exponent) < 0

    def __le__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return _compare(self.mantissa, self.exponent, other.mantissa, other.exponent) <= 0

    def __gt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return _compare(self.mantissa, self.exponent, other.mantissa, other.exponent) > 0

    def __ge__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return _compare(self.mantissa, self.exponent, other.mantissa, other.exponent) >= 0

    def _plus(self, mantissa: int, exponent: int, other_format: Format) -> Quantity:
        low = min(self.exponent, exponent)
        total = self.mantissa * 10 ** (self.exponent - low) + mantissa * 10 ** (exponent - low)
        # As apimachinery's Add/Sub: a zero takes the other operand's format, so 0 + 1Gi prints 1Gi.
        return Quantity(total, low, other_format if self.is_zero() else self.format)


def parse_quantity(text: str) -> Quantity:
    """``text`` as apimachinery's ``ParseQuantity`` reads it; raises ``InvalidQuantity``."""
    if not text:
        raise InvalidQuantity(text, _ERR_FORMAT)
    if text == "0":
        return _spelled(Quantity(0), text)
    number, suffix = _scan(text)
    interpreted = _interpret(suffix)
    if interpreted is None:
        raise InvalidQuantity(text, _ERR_SUFFIX)
    base, exponent, format_ = interpreted
    quantity = _read_int64(text, number, exponent, format_)
    if quantity is None:
        quantity = _read_exact(text, number, base, exponent, format_)
    return quantity


class _Number(NamedTuple):
    """The number in front of a quantity's suffix, as apimachinery's scanner splits it."""

    positive: bool
    written: str  # as written, sign included
    whole: str  # leading zeros stripped; "0" when none are left
    fraction: str


def _read_int64(text: str, number: _Number, exponent: int, format_: Format) -> Quantity | None:
    """apimachinery's fast path: a value that fits an int64 at nano precision or coarser.

    None when the value needs the exact path; which path reads a value matters only for whether the
    quantity keeps its spelling.
    """
    positive, _, whole, fraction = number
    multiplier = 1
    precision = -1
    scale = -len(fraction)
    if format_ is Format.BINARY_SI:
        if not fraction:
            multiplier = 1 << exponent
            # Each power of 1024 costs about three decimal digits of int64 headroom.
            precision = 15 - len(whole) - exponent * 3 // 10 - 1
    else:
        scale += exponent
        precision = _FAST_PATH_DIGITS - len(whole) - len(fraction)
    if precision < 0 or scale < _NANO:
        return None
    digits = whole + fraction
    magnitude = int(digits) * multiplier
    if magnitude > MAX_INT64:
        return None
    quantity = Quantity(magnitude if positive else -magnitude, scale, format_)
    if format_ is Format.BINARY_SI:
        keeps_spelling = int(digits) & 7 != 0
    else:
        keeps_spelling = scale % 3 == 0 and not digits.endswith("000") and digits[0] != "0"
    return _spelled(quantity, text) if keeps_spelling else quantity


def _read_exact(text: str, number: _Number, base: int, exponent: int, format_: Format) -> Quantity:
    """apimachinery's inf.Dec path: any size, rounded up to nano-units, binary values capped."""
    positive, written, whole, fraction = number
    if not any(_is_digit(char) for char in written):
        raise InvalidQuantity(text, _ERR_NUMERIC)
    digits = whole + fraction
    # Trailing zeros move into the exponent before int(): Python refuses very long digit strings.
    significant = digits.rstrip("0")
    exponent10 = len(digits) - len(significant) - len(fraction)
    try:
        magnitude = int(significant.lstrip("0") or "0")
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise InvalidQuantity(text, _ERR_NUMERIC) from None
    if base == 10:
        exponent10 += exponent
    else:
        magnitude <<= exponent
    # Round up rather than to nearest: whoever asks for a sliver of a resource should get some.
    if magnitude and exponent10 < _NANO:
        magnitude, exponent10 = _divide_rounding_up(magnitude, _NANO - exponent10), _NANO
    if format_ is Format.BINARY_SI:
        if _compare(magnitude, exponent10, MAX_INT64, 0) > 0:
            magnitude, exponent10 = MAX_INT64, 0
        if magnitude and _compare(magnitude, exponent10, 1, 0) < 0:
            # A fraction of a unit cannot print with a binary suffix.
            format_ = Format.DECIMAL_SI
    return Quantity(magnitude if positive else -magnitude, exponent10, format_)


def _spelled(quantity: Quantity, text: str) -> Quantity:
    # Set on the fresh value rather than taken by the constructor: only the parser may vouch that
    # a spelling reads back as this very amount.
    object.__setattr__(quantity, "_spelling", text)
    return quantity


def _scan(text: str) -> tuple[_Number, str]:
    """Split ``text`` into its number and suffix as apimachinery's scanner does.

    The scanner is lenient by design: ``.``, ``+`` and ``Mi`` all read as zero.
    """
    positive = True
    pos = 0
    end = len(text)
    if text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos == end:
        return _Number(positive, "0", "0", ""), ""
    start = pos
    while pos < end and _is_digit(text[pos]):
        pos += 1
    if pos == end:
        return _Number(positive, text, text[start:], ""), ""
    whole = text[start:pos] or "0"
    fraction = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and _is_digit(text[pos]):
            pos += 1
        if pos == end:
            return _Number(positive, text, whole, text[start:]), ""
        fraction = text[start:pos]
    number = _Number(positive, text[:pos], whole, fraction)
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and _is_digit(text[pos]):
        pos += 1
    if pos < end:
        raise InvalidQuantity(text, _ERR_FORMAT)
    return number, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, Format] | None:
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = parse_int64(suffix[1:])
        if exponent is not None and abs(exponent) <= _MAX_EXPONENT:
            return 10, exponent, Format.DECIMAL_EXPONENT
    return None


def _is_digit(char: str) -> bool:
    # str.isdigit() also accepts non-ASCII digits, which Go's scanner does not.
    return "0" <= char <= "9"


def _canonical(quantity: Quantity) -> str:
    """CanonicalizeBytes: no fraction digits, and the largest suffix that loses nothing."""
    mantissa, exponent = quantity.mantissa, quantity.exponent
    if mantissa == 0:
        return "0"
    format_ = quantity.format
    if format_ is Format.BINARY_SI:
        # Below 1Ki, or with a fraction (a normalised negative exponent), binary notation would need
        # rounding; print decimal instead.
        if exponent >= 0 and _compare(abs(mantissa), exponent, 1024, 0) >= 0:
            binary = _binary_string(mantissa * 10**exponent)
            if binary is not None:
                return binary
            format_ = Format.DECIMAL_EXPONENT
        else:
            format_ = Format.DECIMAL_SI
    remainder = exponent % 3
    if remainder:
        mantissa *= 10**remainder
        exponent -= remainder
    suffix = _DECIMAL_SUFFIX_BY_EXPONENT.get(exponent) if format_ is Format.DECIMAL_SI else None
    if suffix is None:
        # Past "E" or below "n" there is no SI suffix; exponent notation keeps the magnitude.
        suffix = f"e{exponent}" if exponent else ""
    return f"{mantissa}{suffix}"


def _binary_string(whole: int) -> str | None:
    """``whole`` with a binary suffix, or None for a multiple of 1024**7 (no suffix is that big)."""
    power = 0
    remaining = abs(whole)
    while remaining % 1024 == 0:
        remaining //= 1024
        power += 1
    if power == 0:
        return str(whole)
    suffix = _BINARY_SUFFIX_BY_POWER_OF_1024.get(power)
    if suffix is None:
        return None
    return f"{'-' if whole < 0 else ''}{remaining}{suffix}"


def _compare(left: int, left_exponent: int, right: int, right_exponent: int) -> int:
    """Sign of ``left * 10**left_exponent - right * 10**right_exponent``, without huge powers."""
    left_sign = (left > 0) - (left < 0)
    right_sign = (right > 0) - (right < 0)
    if left_sign != right_sign:
        return 1 if left_sign > right_sign else -1
    if left_sign == 0:
        return 0
    left, right = abs(left), abs(right)
    # An n-bit integer has between n//4 and n//3 + 1 decimal digits: when those ranges of
    # magnitude do not overlap they decide; otherwise the exponents are close, so aligning is cheap.
    left_bits, right_bits = left.bit_length(), right.bit_length()
    if left_exponent + left_bits // 4 > right_exponent + right_bits // 3 + 1:
        return left_sign
    if left_exponent + left_bits // 3 + 1 < right_exponent + right_bits // 4:
        return -left_sign
    if left_exponent >= right_exponent:
        left *= 10 ** (left_exponent - right_exponent)
    else:
        right *= 10 ** (right_exponent - left_exponent)
    return ((left > right) - (left < right)) * left_sign


def _divide_rounding_up(magnitude: int, places: int) -> int:
    """ceil(magnitude / 10**places) for a positive magnitude."""
    if magnitude.bit_length() <= 3 * places:  # magnitude < 8**places < 10**places
        return 1
    divisor: int = 10**places
    quotient, remainder = divmod(magnitude, divisor)
    return quotient + (remainder != 0)


def _scaled_value(mantissa: int, exponent: int, scale: int) -> int:
    """apimachinery's ScaledValue: the amount in units of 10**scale, rounded away from zero, with
    results outside the int64 range saturated to its ends."""
    if mantissa == 0:
        return 0
    magnitude = abs(mantissa)
    shift = exponent - scale
    if shift >= _INT64_DECIMAL_DIGITS:
        magnitude = MAX_INT64 + 1
    elif shift >= 0:
        magnitude *= 10**shift
    else:
        magnitude = _divide_rounding_up(magnitude, -shift)
    if mantissa > 0:
        return min(magnitude, MAX_INT64)
    return -min(magnitude, MAX_INT64 + 1)
