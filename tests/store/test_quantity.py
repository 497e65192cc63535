"""Quantities, with cases from apimachinery's resource/quantity_test.go."""

from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from store.quantity import MAX_INT64, Format, InvalidQuantity, Quantity, parse_quantity

DSI = Format.DECIMAL_SI
BIN = Format.BINARY_SI
EXP = Format.DECIMAL_EXPONENT
KI, MI, GI, TI, PI, EI = (1024**power for power in range(1, 7))
MIN_INT64 = -MAX_INT64 - 1

FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
SUFFIX_ERROR = "unable to parse quantity's suffix"
NUMERIC_ERROR = "unable to parse numeric part of quantity"

# TestQuantityParse: input -> mantissa, exponent (value = mantissa * 10**exponent), format.
PARSE_TABLE = [
    ("0", 0, 0, DSI),
    ("0n", 0, 0, DSI),
    ("0u", 0, 0, DSI),
    ("0m", 0, 0, DSI),
    ("0Ki", 0, 0, BIN),
    ("0k", 0, 0, DSI),
    ("0Mi", 0, 0, BIN),
    ("0M", 0, 0, DSI),
    ("0Gi", 0, 0, BIN),
    ("0G", 0, 0, DSI),
    ("0Ti", 0, 0, BIN),
    ("0T", 0, 0, DSI),
    # Quantity-less numbers are allowed.
    ("1", 1, 0, DSI),
    # Binary suffixes.
    ("1Ki", KI, 0, BIN),
    ("8Ki", 8 * KI, 0, BIN),
    ("7Mi", 7 * MI, 0, BIN),
    ("6Gi", 6 * GI, 0, BIN),
    ("5Ti", 5 * TI, 0, BIN),
    ("4Pi", 4 * PI, 0, BIN),
    ("3Ei", 3 * EI, 0, BIN),
    ("10Ti", 10 * TI, 0, BIN),
    ("100Ti", 100 * TI, 0, BIN),
    # Decimal suffixes.
    ("5n", 5, -9, DSI),
    ("4u", 4, -6, DSI),
    ("3m", 3, -3, DSI),
    ("9", 9, 0, DSI),
    ("8k", 8, 3, DSI),
    ("50k", 5, 4, DSI),
    ("7M", 7, 6, DSI),
    ("6G", 6, 9, DSI),
    ("5T", 5, 12, DSI),
    ("40T", 4, 13, DSI),
    ("300T", 3, 14, DSI),
    ("2P", 2, 15, DSI),
    ("1E", 1, 18, DSI),
    # Decimal exponents.
    ("1E-3", 1, -3, EXP),
    ("1e3", 1, 3, EXP),
    ("1E6", 1, 6, EXP),
    ("1e9", 1, 9, EXP),
    ("1E12", 1, 12, EXP),
    ("1e15", 1, 15, EXP),
    ("1E18", 1, 18, EXP),
    # Nonstandard but still parsable.
    ("1e14", 1, 14, EXP),
    ("1e13", 1, 13, EXP),
    ("100.035k", 100035, 0, DSI),
    # Things that look like floating point.
    ("0.001", 1, -3, DSI),
    ("0.0005k", 5, -1, DSI),
    ("0.005", 5, -3, DSI),
    ("0.05", 5, -2, DSI),
    ("0.5", 5, -1, DSI),
    ("0.00050k", 5, -1, DSI),
    ("0.00500", 5, -3, DSI),
    ("0.05000", 5, -2, DSI),
    ("0.50000", 5, -1, DSI),
    ("0.5e0", 5, -1, EXP),
    ("0.5e-1", 5, -2, EXP),
    ("0.5e-2", 5, -3, EXP),
    ("10.035M", 10035, 3, DSI),
    ("1.2e3", 12, 2, EXP),
    ("1.3E+6", 13, 5, EXP),
    ("1.40e9", 14, 8, EXP),
    ("1.53E12", 153, 10, EXP),
    ("1.6e15", 16, 14, EXP),
    ("1.7E18", 17, 17, EXP),
    ("9.01", 901, -2, DSI),
    ("8.1k", 81, 2, DSI),
    ("7.123456M", 7123456, 0, DSI),
    ("6.987654321G", 6987654321, 0, DSI),
    ("5.444T", 5444, 9, DSI),
    ("40.1T", 401, 11, DSI),
    ("300.2T", 3002, 11, DSI),
    ("2.5P", 25, 14, DSI),
    ("1.01E", 101, 16, DSI),
    # Things that saturate or round.
    ("3.001n", 4, -9, DSI),
    ("1.1E-9", 2, -9, EXP),
    ("0.0000000001", 1, -9, DSI),
    ("0.0000000005", 1, -9, DSI),
    ("0.00000000050", 1, -9, DSI),
    ("0.5e-9", 1, -9, EXP),
    ("0.9n", 1, -9, DSI),
    ("0.00000012345", 124, -9, DSI),
    ("0.00000012354", 124, -9, DSI),
    ("9Ei", MAX_INT64, 0, BIN),
    ("9223372036854775807Ki", MAX_INT64, 0, BIN),
    ("12E", 12, 18, DSI),
    # Fractional binary values are accepted too.
    ("100.035Ki", 10243584, -2, BIN),
    ("0.5Mi", 524288, 0, BIN),
    ("0.05Gi", 536870912, -1, BIN),
    ("0.025Ti", 274877906944, -1, BIN),
    # Things written by trolls.
    ("0.000000000001Ki", 2, -9, DSI),  # rounds up, changes format
    (".001", 1, -3, DSI),
    (".0001k", 100, -3, DSI),
    ("1.", 1, 0, DSI),
    ("1.G", 1, 9, DSI),
]


@pytest.mark.parametrize(("text", "mantissa", "exponent"), [(text, m, e) for text, m, e, _ in PARSE_TABLE])
def test_parse_reads_the_exact_value(text: str, mantissa: int, exponent: int) -> None:
    assert parse_quantity(text) == Quantity(mantissa, exponent)


@pytest.mark.parametrize(("text", "format_"), [(text, f) for text, _, _, f in PARSE_TABLE])
def test_parse_remembers_the_format_of_the_suffix(text: str, format_: Format) -> None:
    assert parse_quantity(text).format is format_


@pytest.mark.parametrize(("text", "mantissa", "exponent", "format_"), PARSE_TABLE)
def test_parse_of_a_negated_quantity_is_the_negated_value(
    text: str, mantissa: int, exponent: int, format_: Format
) -> None:
    parsed = parse_quantity("-" + text)
    assert (parsed, parsed.format) == (Quantity(-mantissa, exponent), format_)


@pytest.mark.parametrize(("text", "mantissa", "exponent", "format_"), PARSE_TABLE)
def test_parse_ignores_an_explicit_plus_sign(
    text: str, mantissa: int, exponent: int, format_: Format
) -> None:
    parsed = parse_quantity("+" + text)
    assert (parsed, parsed.format) == (Quantity(mantissa, exponent), format_)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", FORMAT_ERROR),
        ("1.1.M", FORMAT_ERROR),
        ("1+1.0M", FORMAT_ERROR),
        ("0.1mi", SUFFIX_ERROR),
        ("0.1am", FORMAT_ERROR),
        ("aoeu", FORMAT_ERROR),
        (".5i", SUFFIX_ERROR),
        ("1i", SUFFIX_ERROR),
        ("-3.01i", SUFFIX_ERROR),
        ("-3.01e-", SUFFIX_ERROR),
        # An exponent outside int32 is rejected rather than truncated to an unrelated value.
        ("1e4294967297", SUFFIX_ERROR),
        ("1E2147483648", SUFFIX_ERROR),
        # No leading or trailing whitespace.
        (" 1", FORMAT_ERROR),
        ("1 ", FORMAT_ERROR),
        # Suffixes are case-sensitive.
        ("1mi", SUFFIX_ERROR),
        ("1K", SUFFIX_ERROR),
        ("1.0.0", FORMAT_ERROR),
        ("1Mi2", SUFFIX_ERROR),
        ("1e", SUFFIX_ERROR),
        ("1ee5", SUFFIX_ERROR),
        ("１", FORMAT_ERROR),  # a full-width digit is not an ASCII digit
        # A bare exponent or an over-long binary suffix with no digits reaches the exact parser.
        ("e-10", NUMERIC_ERROR),
        ("Ei", NUMERIC_ERROR),
    ],
)
def test_parse_rejects_malformed_quantities_with_kubernetes_message(text: str, message: str) -> None:
    with pytest.raises(InvalidQuantity) as caught:
        parse_quantity(text)
    assert (str(caught.value), caught.value.text) == (message, text)


@pytest.mark.parametrize("text", ["Mi", ".", "+", "-", "-0", "00", "e5"])
def test_parse_reads_number_less_spellings_as_zero_as_apimachinery_does(text: str) -> None:
    # apimachinery's scanner reads a missing number as "0"; ParseQuantity accepts these.
    assert parse_quantity(text).is_zero()


CANONICAL_TABLE = [
    (Quantity(GI, 0, BIN), "1Gi", "1024Mi"),
    (Quantity(300 * MI, 0, BIN), "300Mi", "307200Ki"),
    (Quantity(6 * KI, 0, BIN), "6Ki", None),
    (Quantity(1001 * GI, 0, BIN), "1001Gi", "1025024Mi"),
    (Quantity(TI, 0, BIN), "1Ti", "1024Gi"),
    (Quantity(5, 0, BIN), "5", "5000m"),
    (Quantity(500, -3, BIN), "500m", "0.5"),
    (Quantity(1, 9, DSI), "1G", "1000M"),
    (Quantity(1000, 6, DSI), "1G", "0.001T"),
    (Quantity(1000000, 3, DSI), "1G", None),
    (Quantity(1000000000, 0, DSI), "1G", None),
    (Quantity(1, -3, DSI), "1m", "1000u"),
    (Quantity(80, -3, DSI), "80m", None),
    (Quantity(1080, -3, DSI), "1080m", "1.08"),
    (Quantity(108, -2, DSI), "1080m", "1080000000n"),
    (Quantity(10800, -4, DSI), "1080m", None),
    (Quantity(300, 6, DSI), "300M", None),
    (Quantity(1, 12, DSI), "1T", None),
    (Quantity(1, 18, DSI), "1E", None),
    # No SI suffix past "E": exponent notation keeps the magnitude.
    (Quantity(1, 21, DSI), "1e21", "1000E"),
    (Quantity(5, 21, DSI), "5e21", "5000E"),
    (Quantity(1, 24, DSI), "1e24", "1000000E"),
    # No binary suffix past "Ei": an exact decimal form instead.
    (Quantity(1, 70, BIN), "10e69", None),
    (Quantity(2, 70, BIN), "20e69", None),
    (Quantity(1, 72, BIN), "1e72", None),
    (Quantity(1234567, 6, DSI), "1234567M", None),
    (Quantity(1234567, -3, BIN), "1234567m", None),
    (Quantity(3, 3, DSI), "3k", None),
    (Quantity(1025, 0, BIN), "1025", None),
    (Quantity(0, 0, DSI), "0", None),
    (Quantity(0, 0, BIN), "0", None),
    (Quantity(1, 9, EXP), "1e9", ".001e12"),
    (Quantity(1, -3, EXP), "1e-3", "0.001e0"),
    (Quantity(1, -9, EXP), "1e-9", "1000e-12"),
    (Quantity(80, -3, EXP), "80e-3", None),
    (Quantity(300, 6, EXP), "300e6", None),
    (Quantity(1, 12, EXP), "1e12", None),
    (Quantity(1, 3, EXP), "1e3", None),
    (Quantity(3, 3, EXP), "3e3", None),
    (Quantity(0, 0, EXP), "0", "00"),
    (Quantity(1, -9, DSI), "1n", None),
    (Quantity(80, -9, DSI), "80n", None),
    (Quantity(1080, -9, DSI), "1080n", None),
    (Quantity(108, -8, DSI), "1080n", None),
    (Quantity(10800, -10, DSI), "1080n", None),
    (Quantity(1, -6, DSI), "1u", None),
    (Quantity(80, -6, DSI), "80u", None),
    (Quantity(1080, -6, DSI), "1080u", None),
]


@pytest.mark.parametrize(("quantity", "expected"), [(q, e) for q, e, _ in CANONICAL_TABLE])
def test_prints_canonical_form(quantity: Quantity, expected: str) -> None:
    assert str(quantity) == expected


@pytest.mark.parametrize("expected", [expected for _, expected, _ in CANONICAL_TABLE])
def test_canonical_form_reads_back_unchanged(expected: str) -> None:
    assert str(parse_quantity(expected)) == expected


@pytest.mark.parametrize(
    ("expected", "alternate"),
    [(expected, alternate) for _, expected, alternate in CANONICAL_TABLE if alternate],
)
def test_alternate_spelling_prints_canonical_form(expected: str, alternate: str) -> None:
    assert str(parse_quantity(alternate)) == expected


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [(quantity, expected) for quantity, expected, _ in CANONICAL_TABLE if not quantity.is_zero()],
)
def test_negation_prints_with_a_minus(quantity: Quantity, expected: str) -> None:
    negated = Quantity(-quantity.mantissa, quantity.exponent, quantity.format)
    assert str(negated) == "-" + expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1Ki", "1Ki"),
        ("1Mi", "1Mi"),
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("1000M", "1G"),
        (".001Ki", "1024m"),
        (".000001Ki", "1024u"),
        (".000000001Ki", "1024n"),
        (".000000000001Ki", "2n"),
        ("1.5Gi", "1536Mi"),
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1e3", "1e3"),
        ("100M", "100M"),
        ("1.5", "1500m"),
        ("0.1m", "100u"),
        ("100.035Ki", "102435840m"),
    ],
)
@pytest.mark.parametrize("sign", ["", "-"])
def test_parse_then_print_gives_canonical_form(text: str, expected: str, sign: str) -> None:
    assert str(parse_quantity(sign + text)) == sign + expected


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("+1", "+1"),
        ("1E3", "1E3"),
        ("1e+3", "1e+3"),
        ("01", "01"),
        ("5.", "5."),
        ("100.035k", "100.035k"),
        ("+1Ki", "+1Ki"),
        ("1024Ki", "1Mi"),
        ("1000m", "1"),
    ],
)
def test_parse_keeps_a_nearly_canonical_spelling_as_apimachinery_does(text: str, printed: str) -> None:
    # apimachinery caches the input when its int64 fast path sees a canonical-looking spelling,
    # and String() (hence the apiserver's JSON) returns that cache.
    assert str(parse_quantity(text)) == printed


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("-999999999999999999", "-999999999999999999"),
        ("999999999999999999", "999999999999999999"),
        ("-999999999999999999.0", "-999999999999999999"),
        ("999999999999999999.1", "999999999999999999100m"),
        ("-9999999999999999999", "-9999999999999999999"),
        ("9999999999999999999", "9999999999999999999"),
        ("-1E", "-1E"),
        ("1E", "1E"),
        ("-1000000000000000000", "-1E"),
        ("1000000000000000000", "1E"),
        ("-9999999999999999999.0", "-9999999999999999999"),
        ("-1.0E", "-1E"),
        ("1.0E", "1E"),
        ("1000000000000000000.0", "1E"),
        ("9999999999999999999000m", "9999999999999999999"),
        ("-9999999999999999999.1", "-9999999999999999999100m"),
        ("1.0000000000000000001E", "1000000000000000000100m"),
        ("-1000000000000000000.1", "-1000000000000000000100m"),
        ("1.000000000000000001E", "1000000000000000001"),
        ("-1000000000000000001", "-1000000000000000001"),
        ("10E", "10E"),
        ("-10000000000000000000", "-10E"),
        ("10.0E", "10E"),
        ("10000000000000000000000m", "10E"),
        ("10.0000000000000000001E", "10000000000000000000100m"),
        ("-10.000000000000000001E", "-10000000000000000001"),
        ("-9223372036854775809", "-9223372036854775809"),
        ("9223372036854775806.1", "9223372036854775806100m"),
        ("9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("9223372036854775808", "9223372036854775808"),
        ("9223372036854775808000m", "9223372036854775808"),
    ],
)
def test_values_beyond_int64_stay_exact(text: str, printed: str) -> None:
    assert str(parse_quantity(text)) == printed


@pytest.mark.parametrize(
    ("text", "value", "milli_value"),
    [
        # Far below a nano-unit: rounded up to 1n, away from zero.
        ("-.484785E-7466", -1, -1),
        (".484785E-7466", 1, 1),
        ("-.484785E-1", -1, -49),
        (".484785E-1", 1, 49),
        ("-0.0005", -1, -1),
        ("0.0005", 1, 1),
        ("-1500m", -2, -1500),
        ("1500m", 2, 1500),
        # Exact value +/-10200547328.1073741824.
        ("-9.5000000001Gi", -10200547329, -10200547328108),
        ("9.5000000001Gi", 10200547329, 10200547328108),
        ("-1", -1, -1000),
        ("1", 1, 1000),
        ("0", 0, 0),
        ("1n", 1, 1),
        ("1u", 1, 1),
        ("1m", 1, 1),
        ("1Mi", MI, MI * 1000),
    ],
)
class TestScaledValues:
    def test_value_rounds_away_from_zero(self, text: str, value: int, milli_value: int) -> None:
        assert parse_quantity(text).value() == value

    def test_milli_value_rounds_away_from_zero(self, text: str, value: int, milli_value: int) -> None:
        assert parse_quantity(text).milli_value() == milli_value


@pytest.mark.parametrize(
    ("text", "value", "milli_value"),
    [
        ("12E", MAX_INT64, MAX_INT64),
        ("-12E", MIN_INT64, MIN_INT64),
        ("9223372036854775807", MAX_INT64, MAX_INT64),
        ("1e2147483647", MAX_INT64, MAX_INT64),
        ("-1e2147483647", MIN_INT64, MIN_INT64),
    ],
)
def test_scaled_values_saturate_at_the_int64_range(text: str, value: int, milli_value: int) -> None:
    quantity = parse_quantity(text)
    assert (quantity.value(), quantity.milli_value()) == (value, milli_value)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [("0", "0", 0), ("100m", "50m", 1), ("50m", "100m", -1), ("10000T", "100Gi", 1)],
)
def test_comparison_orders_by_value(left: str, right: str, expected: int) -> None:
    a, b = parse_quantity(left), parse_quantity(right)
    assert ((a > b) - (a < b), a == b) == (expected, expected == 0)


# TestQuantityCmpInt64AndDec: (mantissa, exponent) pairs.
_CMP_TABLE = [
    ((901, -2), (901, -2), 0),
    ((90, -1), (901, -2), -1),
    ((901, -2), (900, -2), 1),
    ((0, 0), (0, 0), 0),
    ((0, 1), (0, -1), 0),
    ((0, -1), (0, 1), 0),
    ((800, -3), (1, 0), -1),
    ((800, -3), (79, -2), 1),
    ((MAX_INT64, 0), (1, -1), 1),
    ((MAX_INT64, 1), (1, 0), 1),
    ((MAX_INT64, 1), (1, 1), 1),
    ((MAX_INT64, 1), (0, 1), 1),
    ((MAX_INT64, -16), (1, 3), -1),
    ((MIN_INT64, 0), (0, 0), -1),
    ((MIN_INT64, -18), (-1, 0), -1),
    ((MIN_INT64, -19), (-1, 0), 1),
    ((10**18, -17), (1, 1), 0),
    ((10**18, -17), (-10, 0), 1),
    ((-(10**18), -17), (-10, 0), 0),
    ((10**18, -17), (1, 0), 1),
    ((10**18 + 1, -17), (1, 1), 1),
    ((10**18 - 1, -17), (1, 1), -1),
]


@pytest.mark.parametrize(("left", "right", "expected"), _CMP_TABLE)
def test_comparison_is_exact_across_scales(
    left: tuple[int, int], right: tuple[int, int], expected: int
) -> None:
    a, b = Quantity(*left), Quantity(*right)
    assert ((a > b) - (a < b), (b > a) - (b < a)) == (expected, -expected)


def test_equal_values_in_different_formats_are_equal_and_hash_alike() -> None:
    binary, decimal = parse_quantity("1Ki"), parse_quantity("1024")
    assert (binary == decimal, hash(binary) == hash(decimal)) == (True, True)


def test_quantity_never_equals_a_plain_number() -> None:
    number: object = 1
    assert parse_quantity("1") != number


@pytest.mark.parametrize(
    ("left", "right", "expected", "format_"),
    [
        (Quantity(10, 0, DSI), Quantity(1, 1, DSI), Quantity(20), DSI),
        (Quantity(10, 0, DSI), Quantity(1, 0, BIN), Quantity(11), DSI),
        (Quantity(10, 0, BIN), Quantity(1, 0, DSI), Quantity(11), BIN),
        (Quantity(0, 0, DSI), Quantity(50, 0, BIN), Quantity(50), BIN),
        (Quantity(50, 0, DSI), Quantity(0, 0, BIN), Quantity(50), DSI),
        (Quantity(0, 0, DSI), Quantity(0, 0, DSI), Quantity(0), DSI),
    ],
)
def test_addition_keeps_the_left_format_unless_the_left_is_zero(
    left: Quantity, right: Quantity, expected: Quantity, format_: Format
) -> None:
    total = left + right
    assert (total, total.format) == (expected, format_)


@pytest.mark.parametrize(
    ("left", "right", "expected", "format_"),
    [
        (Quantity(10, 0, DSI), Quantity(1, 1, DSI), Quantity(0), DSI),
        (Quantity(10, 0, DSI), Quantity(1, 0, BIN), Quantity(9), DSI),
        (Quantity(10, 0, BIN), Quantity(1, 0, DSI), Quantity(9), BIN),
        (Quantity(0, 0, DSI), Quantity(50, 0, BIN), Quantity(-50), BIN),
        (Quantity(50, 0, DSI), Quantity(0, 0, BIN), Quantity(50), DSI),
        (Quantity(0, 0, DSI), Quantity(0, 0, DSI), Quantity(0), DSI),
        (Quantity(1, 0, DSI), Quantity(MIN_INT64, 0, DSI), Quantity(2**63 + 1), DSI),
    ],
)
def test_subtraction_keeps_the_left_format_unless_the_left_is_zero(
    left: Quantity, right: Quantity, expected: Quantity, format_: Format
) -> None:
    difference = left - right
    assert (difference, difference.format) == (expected, format_)


@pytest.mark.parametrize("text", ["100m", "1Gi"])
def test_adding_zero_on_either_side_preserves_the_suffix(text: str) -> None:
    value, zero = parse_quantity(text), parse_quantity("0")
    assert (str(value + zero), str(zero + value)) == (text, text)


@pytest.mark.parametrize("text", ["100m", "1Gi"])
def test_subtracting_from_zero_prints_the_negated_suffix(text: str) -> None:
    value, zero = parse_quantity(text), parse_quantity("0")
    assert (str(value - zero), str(zero - value)) == (text, "-" + text)


def test_a_difference_of_zero_prints_as_zero_without_suffix() -> None:
    assert str(parse_quantity("1000m") - parse_quantity("1")) == "0"


@pytest.mark.parametrize(
    ("quantity", "printed"),
    [
        # TestNewSet / TestMilliNewSet.
        (Quantity(1, 0, DSI), "1"),
        (Quantity(1000, 0, DSI), "1k"),
        (Quantity(1234000, 0, DSI), "1234k"),
        (Quantity(1024, 0, BIN), "1Ki"),
        (Quantity(1000000, 0, EXP), "1e6"),
        (Quantity(MI, 0, BIN), "1Mi"),
        (Quantity(1, -3, DSI), "1m"),
        (Quantity(1000, -3, DSI), "1"),
        (Quantity(1234000, -3, DSI), "1234"),
        (Quantity(1024, -3, BIN), "1024m"),
        (Quantity(1000000, -3, EXP), "1e3"),
        (Quantity(MI, -3, BIN), "1048576m"),
        # TestBinarySIZeroExponentString.
        (Quantity(2000, 0, BIN), "2000"),
        (Quantity(-2000, 0, BIN), "-2000"),
        # TestQuantityStringBelowNano: no suffix below "n".
        (Quantity(1, -12, DSI), "1e-12"),
        (Quantity(1, -10, DSI), "100e-12"),
        # TestQuantityNeg.
        (Quantity(-901, -2, DSI), "-9010m"),
    ],
)
def test_constructed_quantities_print_canonically(quantity: Quantity, printed: str) -> None:
    assert str(quantity) == printed


def test_binary_value_past_ei_prints_exact_decimal_and_reads_back() -> None:
    grown = parse_quantity("1Ei") + Quantity(1023 * EI, 0, BIN)  # 2**70
    assert (str(grown), parse_quantity(str(grown)) == grown) == ("1180591620717411303424", True)


def test_repr_shows_the_printed_form_and_format() -> None:
    assert repr(parse_quantity("1.5Gi")) == "Quantity('1536Mi', format=BinarySI)"


_DIGITS = st.text(alphabet="0123456789", max_size=20)
_SUFFIX = st.sampled_from(
    ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
) | st.builds(
    lambda e, sign, n: f"{e}{sign}{n}",
    st.sampled_from("eE"),
    st.sampled_from(["", "+", "-"]),
    st.integers(0, 40),
)
_QUANTITY_TEXT = st.builds(
    lambda sign, whole, fraction, suffix: f"{sign}{whole}{fraction}{suffix}",
    st.sampled_from(["", "+", "-"]),
    _DIGITS,
    st.none().map(lambda _: "") | _DIGITS.map(lambda digits: "." + digits),
    _SUFFIX,
)


def _parsed(text: str) -> Quantity:
    try:
        return parse_quantity(text)
    except InvalidQuantity:
        assume(False)
        raise


@given(_QUANTITY_TEXT)
def test_printed_form_reads_back_as_the_same_value(text: str) -> None:
    quantity = _parsed(text)
    assert parse_quantity(str(quantity)) == quantity


@given(_QUANTITY_TEXT)
def test_printed_form_is_a_fixed_point(text: str) -> None:
    printed = str(_parsed(text))
    assert str(parse_quantity(printed)) == printed


_AMOUNTS = st.tuples(st.integers(-(10**30), 10**30), st.integers(-60, 60))


@given(_AMOUNTS, _AMOUNTS)
def test_ordering_agrees_with_exact_rationals(left: tuple[int, int], right: tuple[int, int]) -> None:
    def exact(mantissa: int, exponent: int) -> Fraction:
        return mantissa * Fraction(10) ** exponent

    a, b = Quantity(*left), Quantity(*right)
    assert (a < b, a == b) == (exact(*left) < exact(*right), exact(*left) == exact(*right))


@given(_AMOUNTS, _AMOUNTS)
def test_subtraction_undoes_addition(left: tuple[int, int], right: tuple[int, int]) -> None:
    a, b = Quantity(*left), Quantity(*right)
    assert (a + b) - b == a
