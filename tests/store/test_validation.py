"""Name and label validation, with cases from apimachinery's util/validation tests."""

import pytest

from store.validation import (
    FieldError,
    aggregate,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    mask_trailing_dash,
    parse_int64,
)

QUALIFIED_NAME_REGEX_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
SUBDOMAIN_REGEX_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_REGEX_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_VALUE_REGEX_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    "value",
    [
        "a",
        "ab",
        "abc",
        "a1",
        "a-1",
        "a--1--2--b",
        "0",
        "01",
        "012",
        "1a",
        "1-a",
        "1--a--b--2",
        "a" * 63,
    ],
)
def test_dns1123_label_accepts_lowercase_alphanumerics_and_inner_dashes(value: str) -> None:
    assert is_dns1123_label(value) == []


@pytest.mark.parametrize(
    "value",
    [
        "A",
        "ABC",
        "aBc",
        "A1",
        "A-1",
        "1-A",
        "-",
        "a-",
        "-a",
        "1-",
        "-1",
        "_",
        "a_",
        "_a",
        "a_b",
        "1_",
        "_1",
        "1_2",
        ".",
        "a.",
        ".a",
        "a.b",
        "1.",
        ".1",
        "1.2",
        "",
        " ",
        "a ",
        " a",
        "a b",
        "1 ",
        " 1",
        "1 2",
        "a" * 64,
        "abc\n",
    ],
)
def test_dns1123_label_rejects_anything_else(value: str) -> None:
    assert is_dns1123_label(value) != []


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        ("a.b", ["must not contain dots"]),
        ("A", [LABEL_REGEX_MESSAGE]),
        ("a" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_dns1123_label_messages_are_kubernetes_wording(value: str, messages: list[str]) -> None:
    assert is_dns1123_label(value) == messages


@pytest.mark.parametrize(
    "value",
    [
        "a",
        "ab",
        "abc",
        "a1",
        "a-1",
        "a--1--2--b",
        "0",
        "01",
        "012",
        "1a",
        "1-a",
        "1--a--b--2",
        "a.a",
        "ab.a",
        "abc.a",
        "a1.a",
        "a-1.a",
        "a--1--2--b.a",
        "a.1",
        "ab.1",
        "abc.1",
        "a1.1",
        "a-1.1",
        "a--1--2--b.1",
        "0.a",
        "01.a",
        "012.a",
        "1a.a",
        "1-a.a",
        "0.1",
        "01.1",
        "012.1",
        "1a.1",
        "1-a.1",
        "1--a--b--2.1",
        "a.b.c.d.e",
        "aa.bb.cc.dd.ee",
        "1.2.3.4.5",
        "11.22.33.44.55",
        "a" * 253,
    ],
)
def test_dns1123_subdomain_accepts_dot_separated_labels(value: str) -> None:
    assert is_dns1123_subdomain(value) == []


@pytest.mark.parametrize(
    "value",
    [
        "A",
        "ABC",
        "aBc",
        "A1",
        "A-1",
        "1-A",
        "-",
        "a-",
        "-a",
        "1-",
        "-1",
        "_",
        "a_",
        "_a",
        "a_b",
        "1_",
        "_1",
        "1_2",
        ".",
        "a.",
        ".a",
        "a..b",
        "1.",
        ".1",
        "1..2",
        "A.a",
        "aB.a",
        "ab.A",
        "A1.a",
        "a1.A",
        "A.1",
        "aB.1",
        "A1.1",
        "1A.1",
        "0.A",
        "01.A",
        "012.A",
        "1A.a",
        "1a.A",
        "A.B.C.D.E",
        "AA.BB.CC.DD.EE",
        "a.B.c.d.e",
        "aa.bB.cc.dd.ee",
        "a@b",
        "a,b",
        "a;b",
        "a:b",
        "a%b",
        "a?b",
        "a$b",
        "",
        " ",
        "a ",
        " a",
        "a b",
        "1 ",
        " 1",
        "1 2",
        "a" * 254,
    ],
)
def test_dns1123_subdomain_rejects_anything_else(value: str) -> None:
    assert is_dns1123_subdomain(value) != []


def test_dns1123_subdomain_reports_length_and_pattern_separately() -> None:
    assert is_dns1123_subdomain("A" * 254) == [
        "must be no more than 253 characters",
        SUBDOMAIN_REGEX_MESSAGE,
    ]


@pytest.mark.parametrize(
    "value",
    [
        "simple",
        "now-with-dashes",
        "1-starts-with-num",
        "1234",
        "simple/simple",
        "now-with-dashes/simple",
        "now-with-dashes/now-with-dashes",
        "now.with.dots/simple",
        "now-with.dashes-and.dots/simple",
        "1-num.2-num/3-num",
        "1234/5678",
        "1.2.3.4/5678",
        "Uppercase_Is_OK_123",
        "example.com/Uppercase_Is_OK_123",
        "requests.storage-foo",
        "a" * 63,
        "a" * 253 + "/" + "b" * 63,
    ],
)
def test_qualified_name_accepts_optional_subdomain_prefix_and_name(value: str) -> None:
    assert is_qualified_name(value) == []


@pytest.mark.parametrize(
    "value",
    [
        "nospecialchars%^=@",
        "cantendwithadash-",
        "-cantstartwithadash-",
        "only/one/slash",
        "Example.com/abc",
        "example_com/abc",
        "example.com/",
        "/simple",
        "a" * 64,
        "a" * 254 + "/abc",
    ],
)
def test_qualified_name_rejects_bad_prefix_or_name(value: str) -> None:
    assert is_qualified_name(value) != []


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        ("a" * 64, ["name part must be no more than 63 characters"]),
        ("/simple", ["prefix part must be non-empty"]),
        (
            "example.com/",
            ["name part must be non-empty", "name part " + QUALIFIED_NAME_REGEX_MESSAGE],
        ),
        ("Example.com/abc", ["prefix part " + SUBDOMAIN_REGEX_MESSAGE]),
        (
            "only/one/slash",
            [
                "a qualified name "
                + QUALIFIED_NAME_REGEX_MESSAGE
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ],
        ),
    ],
)
def test_qualified_name_messages_are_kubernetes_wording(value: str, messages: list[str]) -> None:
    assert is_qualified_name(value) == messages


@pytest.mark.parametrize(
    "value",
    ["simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234", "a" * 63, ""],
)
def test_label_value_accepts_empty_or_qualified_name_part(value: str) -> None:
    assert is_valid_label_value(value) == []


@pytest.mark.parametrize(
    "value",
    [
        "nospecialchars%^=@",
        "Tama-nui-te-rā.is.Māori.sun",
        "\\backslashes\\are\\bad",
        "-starts-with-dash",
        "ends-with-dash-",
        ".starts.with.dot",
        "ends.with.dot.",
        "a" * 64,
        "trailing-newline\n",
    ],
)
def test_label_value_rejects_anything_else(value: str) -> None:
    assert is_valid_label_value(value) != []


def test_label_value_messages_are_kubernetes_wording() -> None:
    assert is_valid_label_value("-" * 64) == [
        "must be no more than 63 characters",
        LABEL_VALUE_REGEX_MESSAGE,
    ]


def test_length_limits_count_utf8_bytes_as_go_does() -> None:
    assert "must be no more than 63 characters" in is_valid_label_value("ā" * 32)


@pytest.mark.parametrize("value", ["a", "ab", "a-1", "my-name", "abc-123", "a" * 63])
def test_dns1035_label_accepts_a_label_that_starts_with_a_letter(value: str) -> None:
    assert is_dns1035_label(value) == []


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        (
            "1ab",
            [
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an"
                " alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or"
                " 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            ],
        ),
        ("a" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_dns1035_label_messages_are_kubernetes_wording(value: str, messages: list[str]) -> None:
    assert is_dns1035_label(value) == messages


@pytest.mark.parametrize(
    ("prefix", "masked"),
    [("web-", "wea"), ("a-", "a"), ("-", "-"), ("web", "web"), ("", "")],
)
def test_mask_trailing_dash_replaces_the_last_two_characters_as_upstream(prefix: str, masked: str) -> None:
    assert mask_trailing_dash(prefix) == masked


def test_field_error_prints_path_then_message() -> None:
    assert str(FieldError("spec.replicas", "Required value")) == "spec.replicas: Required value"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (FieldError.invalid("a", "x", "bad"), 'a: Invalid value: "x": bad'),
        (FieldError.invalid("a", 'q"\\\n\x00', "bad"), 'a: Invalid value: "q\\"\\\\\\n\\x00": bad'),
        (FieldError.invalid("a", ("x", "y"), "bad"), 'a: Invalid value: []string{"x", "y"}: bad'),
        (FieldError.invalid("a", (), "bad"), "a: Invalid value: []string{}: bad"),
        (FieldError.required("a", "must be set"), "a: Required value: must be set"),
        (FieldError.required("a", ""), "a: Required value"),
        (FieldError.forbidden("a", "not here"), "a: Forbidden: not here"),
    ],
)
def test_field_error_builders_format_values_like_go(error: FieldError, expected: str) -> None:
    assert str(error) == expected


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (["a: bad"], "a: bad"),
        (["a: bad", "b: worse"], "[a: bad, b: worse]"),
        (["a: bad", "a: bad"], "a: bad"),
        (["a: bad", "b: worse", "a: bad"], "[a: bad, b: worse]"),
    ],
)
def test_aggregate_brackets_several_messages_and_says_each_once(messages: list[str], expected: str) -> None:
    assert aggregate(messages) == expected


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0),
        ("42", 42),
        ("+42", 42),
        ("-42", -42),
        ("007", 7),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        ("9223372036854775808", None),
        ("", None),
        ("+", None),
        (" 1", None),
        ("1_000", None),
        ("٣", None),
        ("0x10", None),
        ("1.0", None),
    ],
)
def test_parse_int64_reads_integers_as_go_strconv_does(text: str, number: int | None) -> None:
    assert parse_int64(text) == number
