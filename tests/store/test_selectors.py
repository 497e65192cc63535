"""Label and field selectors, with cases from apimachinery's labels and fields selector tests."""

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.selectors import (
    MATCH_EVERYTHING,
    MATCH_NOTHING,
    FieldRequirement,
    FieldSelector,
    InvalidSelector,
    Operator,
    Requirement,
    Selector,
    _Lexer,
    _Token,
    escape_field_value,
    parse_field_selector,
    parse_selector,
    selector_from_structured,
    unescape_field_value,
)
from store.validation import FieldError

LABEL_VALUE_REGEX_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_PART_REGEX_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)

# --- label selectors: parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5"],
)
def test_parsed_selector_prints_as_written_without_spaces(text: str) -> None:
    assert str(parse_selector(text)) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["x=a||y=b", "x==a==b", "!x=a", "x<a"])
def test_parse_rejects_malformed_selectors(text: str) -> None:
    with pytest.raises(InvalidSelector):
        parse_selector(text)


def test_parse_orders_requirements_by_key_whatever_the_input_order() -> None:
    assert str(parse_selector("x=a,a=x")) == str(parse_selector("a=x,x=a")) == "a=x,x=a"


def _requirement(key: str, operator: Operator, *values: str) -> Requirement:
    return Requirement(key, operator, values)


# TestSetSelectorParser: the valid inputs and the requirements they parse to.
PARSED_REQUIREMENTS = [
    ("", []),
    ("\rx", [_requirement("x", Operator.EXISTS)]),
    (
        "this-is-a-dns.domain.com/key-with-dash",
        [_requirement("this-is-a-dns.domain.com/key-with-dash", Operator.EXISTS)],
    ),
    (
        "this-is-another-dns.domain.com/key-with-dash in (so,what)",
        [_requirement("this-is-another-dns.domain.com/key-with-dash", Operator.IN, "so", "what")],
    ),
    (
        "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
        [_requirement("0.1.2.domain/99", Operator.NOT_IN, "10.10.100.1", "tick.tack.clock")],
    ),
    ("foo  in\t (abc)", [_requirement("foo", Operator.IN, "abc")]),
    ("x notin\n (abc)", [_requirement("x", Operator.NOT_IN, "abc")]),
    ("x  notin\t\t\t(abc,def)", [_requirement("x", Operator.NOT_IN, "abc", "def")]),
    ("x in (abc,def)", [_requirement("x", Operator.IN, "abc", "def")]),
    ("x in (abc,)", [_requirement("x", Operator.IN, "abc", "")]),
    ("x in ()", [_requirement("x", Operator.IN, "")]),
    (
        "x notin (abc,def),bar,z in (),w",
        [
            _requirement("bar", Operator.EXISTS),
            _requirement("w", Operator.EXISTS),
            _requirement("x", Operator.NOT_IN, "abc", "def"),
            _requirement("z", Operator.IN, ""),
        ],
    ),
    ("x,y in (a)", [_requirement("x", Operator.EXISTS), _requirement("y", Operator.IN, "a")]),
    ("x,y", [_requirement("x", Operator.EXISTS), _requirement("y", Operator.EXISTS)]),
    ("x=a", [_requirement("x", Operator.EQUALS, "a")]),
    ("x>1", [_requirement("x", Operator.GREATER_THAN, "1")]),
    ("x<7", [_requirement("x", Operator.LESS_THAN, "7")]),
    (
        "x=a,y!=b",
        [_requirement("x", Operator.EQUALS, "a"), _requirement("y", Operator.NOT_EQUALS, "b")],
    ),
    (
        "x=a,y!=b,z in (h,i,j)",
        [
            _requirement("x", Operator.EQUALS, "a"),
            _requirement("y", Operator.NOT_EQUALS, "b"),
            _requirement("z", Operator.IN, "h", "i", "j"),
        ],
    ),
    ("x notin ( )", [_requirement("x", Operator.NOT_IN, "")]),
    ("x notin (, a)", [_requirement("x", Operator.NOT_IN, "", "a")]),
    ("a ", [_requirement("a", Operator.EXISTS)]),
    # "in" and "notin" are plain values inside a value list.
    ("a in (x,y,notin, z,in)", [_requirement("a", Operator.IN, "in", "notin", "x", "y", "z")]),
    ("notin=in", [_requirement("notin", Operator.EQUALS, "in")]),
    ("x==a", [_requirement("x", Operator.DOUBLE_EQUALS, "a")]),
    ("x in (a,,b)", [_requirement("x", Operator.IN, "", "a", "b")]),
]


@pytest.mark.parametrize(("text", "requirements"), PARSED_REQUIREMENTS)
def test_parse_builds_the_requirements_of_the_grammar(text: str, requirements: list[Requirement]) -> None:
    assert parse_selector(text) == Selector(requirements)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Kubernetes wording, as kubectl prints it.
        (
            "x=a||y=b",
            'unable to parse requirement: values[0][x]: Invalid value: "a||y": ' + LABEL_VALUE_REGEX_MESSAGE,
        ),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        (
            "x<a",
            'unable to parse requirement: values[0]: Invalid value: "a": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (",x,y", "found ',', expected: !, identifier, or 'end of string'"),
        (
            "x nott in (y)",
            "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "env IN (a)",
            "unable to parse requirement: found 'IN', expected: in, notin, =, ==, !=, gt, lt",
        ),
        ("a in (xyz),", "found '', expected: identifier after ','"),
        ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"),
        ("a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'"),
        ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
        ("a notin x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("x=(", "unable to parse requirement: found '(', expected: identifier"),
        (
            "a:",
            'unable to parse requirement: <nil>: Invalid value: "a:": ' + NAME_PART_REGEX_MESSAGE,
        ),
        (
            "x in (-a,b-)",
            "unable to parse requirement: ["
            f'values[0][x]: Invalid value: "-a": {LABEL_VALUE_REGEX_MESSAGE}, '
            f'values[1][x]: Invalid value: "b-": {LABEL_VALUE_REGEX_MESSAGE}]',
        ),
    ],
)
def test_parse_errors_use_kubernetes_wording(text: str, message: str) -> None:
    with pytest.raises(InvalidSelector) as caught:
        parse_selector(text)
    assert str(caught.value) == message


def test_parse_error_keeps_the_field_errors_of_the_requirement() -> None:
    with pytest.raises(InvalidSelector) as caught:
        parse_selector("x<a")
    assert caught.value.errors == (
        FieldError.invalid("values[0]", "a", "for 'Gt', 'Lt' operators, the value must be an integer"),
    )


def test_negative_numbers_are_not_label_values_so_gt_rejects_them() -> None:
    with pytest.raises(InvalidSelector, match=r'values\[0\]\[x\]: Invalid value: "-1"'):
        parse_selector("x>-1")


# --- the lexer ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("", _Token.END_OF_STRING),
        (",", _Token.COMMA),
        ("notin", _Token.NOT_IN),
        ("in", _Token.IN),
        ("=", _Token.EQUALS),
        ("==", _Token.DOUBLE_EQUALS),
        (">", _Token.GREATER_THAN),
        ("<", _Token.LESS_THAN),
        # The lexer returns the longest valid token.
        ("!", _Token.DOES_NOT_EXIST),
        ("!=", _Token.NOT_EQUALS),
        ("(", _Token.OPEN_PAR),
        (")", _Token.CLOSED_PAR),
        # Characters that are not special are part of an identifier.
        ("~", _Token.IDENTIFIER),
        ("||", _Token.IDENTIFIER),
    ],
)
def test_lexer_reads_one_token_with_its_literal(text: str, token: _Token) -> None:
    assert _Lexer(text).tokens()[0] == (token, text)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("key in ( value )", ["IDENTIFIER", "IN", "OPEN_PAR", "IDENTIFIER", "CLOSED_PAR"]),
        ("key notin ( value )", ["IDENTIFIER", "NOT_IN", "OPEN_PAR", "IDENTIFIER", "CLOSED_PAR"]),
        (
            "key in ( value1, value2 )",
            ["IDENTIFIER", "IN", "OPEN_PAR", "IDENTIFIER", "COMMA", "IDENTIFIER", "CLOSED_PAR"],
        ),
        ("key", ["IDENTIFIER"]),
        ("!key", ["DOES_NOT_EXIST", "IDENTIFIER"]),
        ("()", ["OPEN_PAR", "CLOSED_PAR"]),
        ("", []),
        ("x in (),y", ["IDENTIFIER", "IN", "OPEN_PAR", "CLOSED_PAR", "COMMA", "IDENTIFIER"]),
        (
            "== != (), = notin",
            ["DOUBLE_EQUALS", "NOT_EQUALS", "OPEN_PAR", "CLOSED_PAR", "COMMA", "EQUALS", "NOT_IN"],
        ),
        ("key>2", ["IDENTIFIER", "GREATER_THAN", "IDENTIFIER"]),
        ("key<1", ["IDENTIFIER", "LESS_THAN", "IDENTIFIER"]),
        ("!!=", ["DOES_NOT_EXIST", "NOT_EQUALS"]),
        ("===", ["DOUBLE_EQUALS", "EQUALS"]),
    ],
)
def test_lexer_splits_a_selector_into_tokens_ending_in_end_of_string(text: str, tokens: list[str]) -> None:
    assert [token.name for token, _ in _Lexer(text).tokens()] == [*tokens, "END_OF_STRING"]


# --- requirements ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "operator", "values", "valid"),
    [
        ("x", Operator.IN, [], False),
        ("x", Operator.NOT_IN, [], False),
        ("x", Operator.IN, ["foo"], True),
        ("x", Operator.NOT_IN, ["foo"], True),
        ("x", Operator.EXISTS, [], True),
        ("x", Operator.DOES_NOT_EXIST, [], True),
        ("1foo", Operator.IN, ["bar"], True),
        ("1234", Operator.IN, ["bar"], True),
        ("y", Operator.GREATER_THAN, ["1"], True),
        ("z", Operator.LESS_THAN, ["6"], True),
        ("foo", Operator.GREATER_THAN, ["bar"], False),
        ("barz", Operator.LESS_THAN, ["blah"], False),
        ("a" * 254, Operator.EXISTS, [], False),  # a key is at most 253 + "/" + 63 characters
        ("x", Operator.EQUALS, ["a", "b"], False),
        ("x", Operator.EXISTS, ["a"], False),
        ("x", Operator.GREATER_THAN, ["99999999999999999999"], False),  # past int64
        ("x", Operator.IN, ["-a"], False),
    ],
)
def test_requirement_construction_validates_like_new_requirement(
    key: str, operator: Operator, values: list[str], valid: bool
) -> None:
    try:
        Requirement(key, operator, values)
    except InvalidSelector:
        assert not valid
    else:
        assert valid


@pytest.mark.parametrize(
    ("key", "operator", "values", "message"),
    [
        (
            "x",
            Operator.IN,
            [],
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            "x",
            Operator.EQUALS,
            ["a", "b"],
            'values: Invalid value: []string{"a", "b"}: exact-match compatibility requires one single value',
        ),
        (
            "x",
            Operator.EXISTS,
            ["a"],
            'values: Invalid value: []string{"a"}: values set must be empty for exists and does not exist',
        ),
        (
            "x",
            Operator.LESS_THAN,
            [],
            "values: Invalid value: []string{}: for 'Gt', 'Lt' operators, exactly one value is required",
        ),
        (
            "x/",
            Operator.EXISTS,
            [],
            'key: Invalid value: "x/": name part must be non-empty; ' + NAME_PART_REGEX_MESSAGE,
        ),
    ],
)
def test_requirement_errors_use_kubernetes_wording(
    key: str, operator: Operator, values: list[str], message: str
) -> None:
    with pytest.raises(InvalidSelector) as caught:
        Requirement(key, operator, values)
    assert str(caught.value) == message


def test_requirement_accepts_the_operator_by_its_kubernetes_name() -> None:
    assert Requirement("x", "notin", ["a"]) == _requirement("x", Operator.NOT_IN, "a")


def test_requirement_values_are_kept_sorted_and_unique() -> None:
    assert Requirement("x", Operator.IN, ["foo", "bar", "foo"]).values == ("bar", "foo")


@pytest.mark.parametrize(
    ("requirements", "printed"),
    [
        (
            [
                _requirement("x", Operator.IN, "abc", "def"),
                _requirement("y", Operator.NOT_IN, "jkl"),
                _requirement("z", Operator.EXISTS),
            ],
            "x in (abc,def),y notin (jkl),z",
        ),
        (
            [
                _requirement("x", Operator.NOT_IN, "abc", "def"),
                _requirement("y", Operator.NOT_EQUALS, "jkl"),
                _requirement("z", Operator.DOES_NOT_EXIST),
            ],
            "x notin (abc,def),y!=jkl,!z",
        ),
        (
            [
                _requirement("x", Operator.NOT_IN, "abc"),
                _requirement("y", Operator.IN, "jkl", "mno"),
                _requirement("z", Operator.NOT_IN, ""),
            ],
            "x notin (abc),y in (jkl,mno),z notin ()",
        ),
        (
            [
                _requirement("x", Operator.EQUALS, "abc"),
                _requirement("y", Operator.DOUBLE_EQUALS, "jkl"),
                _requirement("z", Operator.NOT_EQUALS, "a"),
                _requirement("z", Operator.EXISTS),
            ],
            "x=abc,y==jkl,z!=a,z",
        ),
        (
            [
                _requirement("x", Operator.GREATER_THAN, "2"),
                _requirement("y", Operator.LESS_THAN, "8"),
                _requirement("z", Operator.EXISTS),
            ],
            "x>2,y<8,z",
        ),
        ([_requirement("x", Operator.IN, "foo", "bar")], "x in (bar,foo)"),
    ],
)
def test_selector_prints_kubernetes_string_form(requirements: list[Requirement], printed: str) -> None:
    assert str(Selector(requirements)) == printed


def test_selector_keeps_requirements_sorted_by_key() -> None:
    selector = Selector(
        [_requirement("key2", Operator.EQUALS, "value2"), _requirement("key", Operator.IN, "value")]
    )
    assert [r.key for r in selector.requirements] == ["key", "key2"]


# --- matching -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("", {"x": "y"}, True),
        ("x=y", {"x": "y"}, True),
        ("x=y,z=w", {"x": "y", "z": "w"}, True),
        ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
        ("notin=in", {"notin": "in"}, True),
        ("x", {"x": "z"}, True),
        ("!x", {"y": "z"}, True),
        ("x>1", {"x": "2"}, True),
        ("x<1", {"x": "0"}, True),
        ("x=z", {}, False),
        ("x=y", {"x": "z"}, False),
        ("x=y,z=w", {"x": "w", "z": "w"}, False),
        ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
        ("x", {"y": "z"}, False),
        ("!x", {"x": "z"}, False),
        ("x>1", {"x": "0"}, False),
        ("x<1", {"x": "2"}, False),
        ("foo=bar", {"foo": "bar", "baz": "blah"}, True),
        ("baz=blah", {"foo": "bar", "baz": "blah"}, True),
        ("foo=bar,baz=blah", {"foo": "bar", "baz": "blah"}, True),
        ("foo=blah", {"foo": "bar", "baz": "blah"}, False),
        ("baz=bar", {"foo": "bar", "baz": "blah"}, False),
        ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
        # TestRequirementSelectorMatching.
        ("x in (foo),y notin (alpha)", {"x": "foo", "y": "baz"}, True),
        ("x in (foo),y in (alpha)", {"x": "foo", "y": "baz"}, False),
        ("x notin (),y", {"y": ""}, True),
        ("!x,y", {"y": ""}, True),
        ("x notin (),!y", {"y": ""}, False),
        ("x in ()", {"y": "baz"}, False),
        ("z>1", {"z": "2"}, True),
        ("z>1", {"z": "v2"}, False),
        # Absent keys: "notin" and "!=" match, "in", "=", "gt" and "lt" do not.
        ("x notin (a,b)", {}, True),
        ("x!=a", {}, True),
        ("x in (a,b)", {}, False),
        ("x>1", {}, False),
        ("x in (a,b)", {"x": "b"}, True),
        ("x notin (a,b)", {"x": "b"}, False),
        # Label values are compared as int64, the way strconv.ParseInt reads them.
        ("x>1", {"x": "+2"}, True),
        ("x<1", {"x": "-5"}, True),
        ("x>1", {"x": "99999999999999999999"}, False),
        ("x>1", {"x": "٣"}, False),
        ("x>1", {"x": " 2"}, False),
    ],
)
def test_selector_matches_labels_as_kubernetes_does(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(text).matches(labels) is matches


def test_everything_matches_any_labels_and_is_empty() -> None:
    assert (Selector.everything().matches({"x": "y"}), Selector.everything().empty()) == (
        True,
        True,
    )


def test_nothing_matches_no_labels_and_is_not_empty() -> None:
    assert (MATCH_NOTHING.matches({}), MATCH_NOTHING.empty(), Selector.nothing()) == (
        False,
        False,
        MATCH_NOTHING,
    )


def test_nothing_differs_from_everything_though_both_print_empty() -> None:
    assert (MATCH_NOTHING != MATCH_EVERYTHING, str(MATCH_NOTHING), str(MATCH_EVERYTHING)) == (
        True,
        "",
        "",
    )


# --- structured selectors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match_labels", "match_expressions", "printed"),
    [
        (None, None, ""),
        ({}, [], ""),
        ({"app": "web"}, None, "app=web"),
        ({"b": "2", "a": "1"}, [], "a=1,b=2"),
        (None, [("tier", "In", ["b", "a"])], "tier in (a,b)"),
        (None, [("tier", "NotIn", ["a"])], "tier notin (a)"),
        (None, [("canary", "Exists", [])], "canary"),
        (None, [("canary", "DoesNotExist", [])], "!canary"),
        ({"app": "web"}, [("tier", "In", ["a"]), ("app", "Exists", [])], "app=web,app,tier in (a)"),
    ],
)
def test_structured_selector_converts_like_label_selector_as_selector(
    match_labels: dict[str, str] | None,
    match_expressions: list[tuple[str, str, Sequence[str]]] | None,
    printed: str,
) -> None:
    assert str(selector_from_structured(match_labels, match_expressions)) == printed


def test_empty_structured_selector_matches_everything() -> None:
    assert selector_from_structured({}, []) is MATCH_EVERYTHING


@pytest.mark.parametrize(
    ("match_labels", "match_expressions", "errors"),
    [
        (
            None,
            [("x", "In", [])],
            [
                FieldError.required(
                    "matchExpressions[0].values",
                    "must be specified when `operator` is 'In' or 'NotIn'",
                )
            ],
        ),
        (
            None,
            [("x", "NotIn", [])],
            [
                FieldError.required(
                    "matchExpressions[0].values",
                    "must be specified when `operator` is 'In' or 'NotIn'",
                )
            ],
        ),
        (
            None,
            [("x", "Exists", ["a"])],
            [
                FieldError.forbidden(
                    "matchExpressions[0].values",
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            ],
        ),
        (
            None,
            [("x", "DoesNotExist", ["a"])],
            [
                FieldError.forbidden(
                    "matchExpressions[0].values",
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            ],
        ),
        (
            None,
            [("x", "in", ["a"])],
            [FieldError.invalid("matchExpressions[0].operator", "in", "not a valid selector operator")],
        ),
        (
            None,
            [("x", "Equals", ["a"]), ("a/", "In", ["-b"])],
            [
                FieldError.invalid("matchExpressions[0].operator", "Equals", "not a valid selector operator"),
                FieldError.invalid("matchExpressions[1].key", "a/", "name part must be non-empty"),
                FieldError.invalid("matchExpressions[1].key", "a/", NAME_PART_REGEX_MESSAGE),
                FieldError.invalid("matchExpressions[1].values[0]", "-b", LABEL_VALUE_REGEX_MESSAGE),
            ],
        ),
        (
            {"b": "-x", "-a": "ok"},
            None,
            [
                FieldError.invalid("matchLabels", "-a", NAME_PART_REGEX_MESSAGE),
                FieldError.invalid("matchLabels", "-x", LABEL_VALUE_REGEX_MESSAGE),
            ],
        ),
    ],
)
def test_structured_selector_reports_every_error_with_its_path(
    match_labels: dict[str, str] | None,
    match_expressions: list[tuple[str, str, Sequence[str]]] | None,
    errors: list[FieldError],
) -> None:
    with pytest.raises(InvalidSelector) as caught:
        selector_from_structured(match_labels, match_expressions)
    assert list(caught.value.errors) == errors


def test_structured_selector_message_aggregates_errors_like_kubernetes() -> None:
    with pytest.raises(InvalidSelector) as caught:
        selector_from_structured(None, [("x", "In", []), ("y", "Exists", ["a"])])
    assert str(caught.value) == (
        "[matchExpressions[0].values: Required value: must be specified when `operator` is "
        "'In' or 'NotIn', matchExpressions[1].values: Forbidden: may not be specified when "
        "`operator` is 'Exists' or 'DoesNotExist']"
    )


# --- field selectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["x=a,y=b,z=c", "", "x!=a,y=b", r"x=a||y\=b", r"x=a\=\=b", r"k2=\\,k=\,"])
def test_parsed_field_selector_prints_as_written(text: str) -> None:
    assert str(parse_field_selector(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x=a||y=b", "invalid field selector: unescaped character in value: 61"),
        ("x==a==b", "invalid field selector: unescaped character in value: 61"),
        ("x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'"),
        ("x in (a)", "invalid selector: 'x in (a)'; can't understand 'x in (a)'"),
        ("x in (a,b,c)", "invalid selector: 'x in (a,b,c)'; can't understand 'b'"),
        ("x", "invalid selector: 'x'; can't understand 'x'"),
        (r"k=\a", r"invalid field selector: invalid escape sequence: \a"),
        ("k=\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_parse_errors_use_kubernetes_wording(text: str, message: str) -> None:
    with pytest.raises(InvalidSelector) as caught:
        parse_field_selector(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "requirements"),
    [
        ("a=avalue", [("a", "=", "avalue")]),
        ("a=avalue,b=bvalue", [("a", "=", "avalue"), ("b", "=", "bvalue")]),
        (
            "a=avalue,b==bvalue,c!=cvalue",
            [("a", "=", "avalue"), ("b", "=", "bvalue"), ("c", "!=", "cvalue")],
        ),
        # Empty terms are skipped.
        ("a=a,", [("a", "=", "a")]),
        (",a=a", [("a", "=", "a")]),
        # Escaped values.
        (r"k=\,,k2=v2", [("k", "=", ","), ("k2", "=", "v2")]),
        (r"k=\\,k2=v2", [("k", "=", "\\"), ("k2", "=", "v2")]),
        (r"k=\\\,,k2=v2", [("k", "=", "\\,"), ("k2", "=", "v2")]),
        (r"k=\=", [("k", "=", "=")]),
        # Multi-byte.
        ("함=수,목=록", [("목", "=", "록"), ("함", "=", "수")]),
        # The first operator splits the term; field names have no escaping.
        ("c!=value", [("c", "!=", "value")]),
        ("a=!b", [("a", "=", "!b")]),
        # A term with neither field nor value selects everything.
        ("=", []),
        ("!=,a=b", [("a", "=", "b")]),
        ("=x", [("", "=", "x")]),
    ],
)
def test_field_selector_parse_splits_terms_and_unescapes_values(
    text: str, requirements: list[tuple[str, str, str]]
) -> None:
    assert parse_field_selector(text) == FieldSelector(
        [FieldRequirement(*requirement) for requirement in requirements]
    )


def test_field_selector_parse_order_does_not_matter() -> None:
    assert str(parse_field_selector("x=a,a=x")) == str(parse_field_selector("a=x,x=a"))


@pytest.mark.parametrize(
    ("unescaped", "escaped"),
    [
        ("", ""),
        ("a", "a"),
        ("=", r"\="),
        (",", r"\,"),
        ("\\", r"\\"),
        ("\\=\\,\\", "\\\\\\=\\\\\\,\\\\"),
    ],
)
def test_field_value_escaping_round_trips(unescaped: str, escaped: str) -> None:
    assert (escape_field_value(unescaped), unescape_field_value(escaped)) == (escaped, unescaped)


# An orphan backslash is invalid, and so is one before anything but a backslash, "," or "=".
@pytest.mark.parametrize("escaped", ["\\", "\\\\\\", "\\a"])
def test_field_value_unescaping_rejects_invalid_escape_sequences(escaped: str) -> None:
    with pytest.raises(InvalidSelector, match="invalid escape sequence"):
        unescape_field_value(escaped)


COMPLEX_FIELDS = {"foo": "bar", "baz": "blah", "complex": "=value\\,\\"}


@pytest.mark.parametrize(
    ("text", "fields", "matches"),
    [
        ("", {"x": "y"}, True),
        ("x=y", {"x": "y"}, True),
        ("x=y,z=w", {"x": "y", "z": "w"}, True),
        ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
        ("notin=in", {"notin": "in"}, True),
        ("x=y", {"x": "z"}, False),
        ("x=y,z=w", {"x": "w", "z": "w"}, False),
        ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
        ("foo=bar", COMPLEX_FIELDS, True),
        ("baz=blah", COMPLEX_FIELDS, True),
        ("foo=bar,baz=blah", COMPLEX_FIELDS, True),
        (r"foo=bar,baz=blah,complex=\=value\\\,\\", COMPLEX_FIELDS, True),
        ("foo=blah", COMPLEX_FIELDS, False),
        ("baz=bar", COMPLEX_FIELDS, False),
        ("foo=bar,foobar=bar,baz=blah", COMPLEX_FIELDS, False),
        # An absent field reads as the empty string.
        ("x=", {}, True),
        ("x!=a", {}, True),
        ("x==a", {"x": "a"}, True),
    ],
)
def test_field_selector_matches_fields_as_kubernetes_does(
    text: str, fields: dict[str, str], matches: bool
) -> None:
    assert parse_field_selector(text).matches(fields) is matches


def test_field_selector_lists_the_fields_it_reads() -> None:
    selector = parse_field_selector("spec.nodeName=n1,status.phase!=Failed,spec.nodeName!=n2")
    assert selector.fields() == {"spec.nodeName", "status.phase"}


def test_field_requirement_rejects_set_operators() -> None:
    with pytest.raises(InvalidSelector):
        FieldRequirement("x", Operator.IN, "a")


# --- properties -----------------------------------------------------------------------------------

_NAME = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?", fullmatch=True)
_PREFIX = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?(\.[a-z0-9]{1,5}){0,2}", fullmatch=True)
_KEY = st.builds(lambda prefix, name: f"{prefix}/{name}" if prefix else name, st.none() | _PREFIX, _NAME)
_VALUE = st.just("") | _NAME
_REQUIREMENT = st.one_of(
    st.builds(Requirement, _KEY, st.sampled_from([Operator.EXISTS, Operator.DOES_NOT_EXIST])),
    st.builds(
        lambda key, op, value: Requirement(key, op, [value]),
        _KEY,
        st.sampled_from([Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS]),
        _VALUE,
    ),
    st.builds(
        Requirement,
        _KEY,
        st.sampled_from([Operator.IN, Operator.NOT_IN]),
        st.lists(_VALUE, min_size=1, max_size=4),
    ),
    st.builds(
        lambda key, op, number: Requirement(key, op, [str(number)]),
        _KEY,
        st.sampled_from([Operator.GREATER_THAN, Operator.LESS_THAN]),
        st.integers(0, 2**63 - 1),
    ),
)
_SELECTOR = st.lists(_REQUIREMENT, max_size=5).map(Selector)


@given(_SELECTOR)
def test_selector_string_form_parses_back_to_the_same_selector(selector: Selector) -> None:
    assert parse_selector(str(selector)) == selector


@given(_SELECTOR, st.dictionaries(_KEY, _VALUE, max_size=5))
def test_selector_matches_when_every_requirement_matches(selector: Selector, labels: dict[str, str]) -> None:
    assert selector.matches(labels) == all(r.matches(labels) for r in selector.requirements)


_FIELD_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,12}", fullmatch=True)
_FIELD_SELECTOR = st.lists(
    st.builds(
        FieldRequirement,
        _FIELD_NAME,
        st.sampled_from([Operator.EQUALS, Operator.NOT_EQUALS]),
        st.text(max_size=8),
    ),
    max_size=4,
).map(FieldSelector)


@given(_FIELD_SELECTOR)
def test_field_selector_string_form_parses_back_to_the_same_selector(
    selector: FieldSelector,
) -> None:
    assert parse_field_selector(str(selector)) == selector


@given(st.text())
def test_field_value_escaping_round_trips_any_text(value: str) -> None:
    assert unescape_field_value(escape_field_value(value)) == value
