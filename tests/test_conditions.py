"""Tests for engine.core.conditions: the safe `when:` language."""

from __future__ import annotations

import ast
import builtins
import itertools
import pickle
from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import conditions
from engine.core.conditions import (
    MAX_DEPTH,
    MAX_LENGTH,
    Condition,
    ConditionError,
    parse_condition,
)


def holds(text: str, **facts: object) -> bool:
    return parse_condition(text).evaluate(facts)


def error(text: str, known_names: list[str] | None = None) -> ConditionError:
    with pytest.raises(ConditionError) as info:
        parse_condition(text, known_names)
    return info.value


# --------------------------------------------------------------------------------------
# Boolean structure: truth tables, precedence, parentheses

BOOLS = [False, True]

TRUTH_TABLE = [
    ("a", lambda a, b, c: a),
    ("not a", lambda a, b, c: not a),
    ("not not a", lambda a, b, c: a),
    ("a and b", lambda a, b, c: a and b),
    ("a or b", lambda a, b, c: a or b),
    ("a and b and c", lambda a, b, c: a and b and c),
    ("a or b or c", lambda a, b, c: a or b or c),
    # `and` binds tighter than `or`
    ("a or b and c", lambda a, b, c: a or (b and c)),
    ("a and b or c", lambda a, b, c: (a and b) or c),
    ("(a or b) and c", lambda a, b, c: (a or b) and c),
    ("a and (b or c)", lambda a, b, c: a and (b or c)),
    # `not` binds tighter than `and`/`or`
    ("not a and b", lambda a, b, c: (not a) and b),
    ("not a or b", lambda a, b, c: (not a) or b),
    ("not (a and b)", lambda a, b, c: not (a and b)),
    ("not (a or b)", lambda a, b, c: not (a or b)),
    ("a and not b or c", lambda a, b, c: (a and (not b)) or c),
    ("not a or not b and not c", lambda a, b, c: (not a) or ((not b) and (not c))),
    ("((a))", lambda a, b, c: a),
    ("(((a) or (b)) and ((c)))", lambda a, b, c: (a or b) and c),
    # comparisons bind tighter than `not`
    ("not a == true", lambda a, b, c: a is not True),
    ("a == true and b == false", lambda a, b, c: a and not b),
    ("a != b or c", lambda a, b, c: (a != b) or c),
    ("true", lambda a, b, c: True),
    ("false", lambda a, b, c: False),
    ("not false", lambda a, b, c: True),
    ("a or true", lambda a, b, c: True),
    ("a and false", lambda a, b, c: False),
]


@pytest.mark.parametrize(("text", "expected"), TRUTH_TABLE, ids=[t for t, _ in TRUTH_TABLE])
@pytest.mark.parametrize(("a", "b", "c"), list(itertools.product(BOOLS, repeat=3)))
def test_truth_tables(text, expected, a, b, c):
    assert holds(text, a=a, b=b, c=c) is expected(a, b, c)


def test_whitespace_is_free():
    assert holds("not(a)and(b)or\n\tc", a=False, b=True, c=False)
    assert holds("  a  ==  1  ", a=1)
    assert holds("a==1", a=1)
    assert holds("a\u00a0==\u00a01", a=1)  # a non-breaking space pasted from a document


# --------------------------------------------------------------------------------------
# Comparisons and literals


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("age == 18", 18, True),
        ("age == 18", 19, False),
        ("age != 18", 19, True),
        ("age != 18", 18, False),
        ("age < 18", 17, True),
        ("age < 18", 18, False),
        ("age <= 18", 18, True),
        ("age <= 18", 19, False),
        ("age > 18", 19, True),
        ("age > 18", 18, False),
        ("age >= 18", 18, True),
        ("age >= 18", 17, False),
        ("18 <= age", 20, True),
        ("age > -1", 0, True),
        ("age == -1", -1, True),
        ("age >= 007", 7, True),
        ("age < 2.5", 2, True),
        ("age < 2.5", 3, False),
        ("age == 2.0", 2, True),
        ("age == 2.5", Decimal("2.5"), True),
        ("age == 2.5", 2.5, True),
        ("age == 2.5", Fraction(5, 2), True),
        ("age > 1", 1.5, True),
        ("age > 1000000", float("inf"), True),
    ],
)
def test_number_comparisons(text, value, expected):
    assert holds(text, age=value) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("level == 'full'", True),
        ('level == "full"', True),
        ("level != 'advice'", True),
        ("level == 'Full'", False),  # case-sensitive
        ("level == 'full '", False),
        ("level < 'g'", True),
        ("level >= 'full'", True),
        ("'full' == level", True),
        ('name == "O\'Brien"', False),
        ("level == ''", False),
    ],
)
def test_text_comparisons(text, expected):
    assert holds(text, level="full", name="O'Neill") is expected


def test_quotes_nest_using_the_other_style():
    assert holds('name == "O\'Brien"', name="O'Brien")
    assert holds("quote == 'she said \"no\"'", quote='she said "no"')
    assert holds("x == 'a and b or (c)'", x="a and b or (c)")


def test_boolean_comparisons():
    assert holds("consent == true", consent=True)
    assert holds("consent == false", consent=False)
    assert holds("consent != true", consent=False)
    assert not holds("consent == true", consent=False)
    assert holds("true == true")
    assert holds("a == b", a=True, b=True)


def test_literal_only_comparisons():
    assert holds("1 == 1")
    assert holds("1 < 2")
    assert not holds("'a' == 'b'")
    assert not holds("1 == '1'")


def test_bare_name_is_true_only_for_boolean_true():
    assert holds("flag", flag=True)
    assert not holds("flag", flag=False)
    for value in (1, 2, "yes", "true", [True], 1.0):
        assert not holds("flag", flag=value), value
    assert holds("not flag", flag="yes")


# --------------------------------------------------------------------------------------
# in / not in


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("level in ['full', 'advice']", "full", True),
        ("level in ['full', 'advice']", "advice", True),
        ("level in ['full', 'advice']", "none", False),
        ('level in ["full"]', "full", True),
        ("level not in ['full', 'advice']", "none", True),
        ("level not in ['full', 'advice']", "full", False),
        ("age in [1, 2, 3]", 2, True),
        ("age in [1, 2, 3]", 4, False),
        ("age in [1, 2.5]", Decimal("2.5"), True),
        ("age not in [1, 2, 3]", 4, True),
        ("flag in [true]", True, True),
        ("flag in [true]", False, False),
        ("flag not in [true]", False, True),
        # mismatched kinds: never a match, and `not in` is false too (like !=)
        ("age in [1, 2]", "1", False),
        ("age not in [1, 2]", "1", False),
        ("age in [1]", True, False),
        ("flag in [true]", 1, False),
        ("level in ['1']", 1, False),
        ("level not in ['1']", 1, False),
        ("level in ['a']", ["a"], False),
        ("level not in ['a']", ["b"], False),
    ],
)
def test_membership(text, value, expected):
    assert holds(text, level=value, age=value, flag=value) is expected


def test_membership_with_literal_subject():
    assert holds("'a' in ['a', 'b']")
    assert holds("3 not in [1, 2]")


def test_in_binds_tighter_than_not_and_and():
    assert holds("not level in ['a'] and ok", level="b", ok=True)
    assert not holds("not level in ['a'] and ok", level="a", ok=True)
    tree = parse_condition("not x in [1]").tree
    assert isinstance(tree, conditions.Not)
    assert isinstance(tree.operand, conditions.Membership)


# --------------------------------------------------------------------------------------
# Unknown facts and mismatched types

COMPARISONS_ON_X = [
    "x == 1",
    "x != 1",
    "x < 1",
    "x <= 1",
    "x > 1",
    "x >= 1",
    "x == 'a'",
    "x != 'a'",
    "x == true",
    "x != true",
    "x == false",
    "x != false",
    "1 == x",
    "x == x",
    "x != y",
    "x in [1, 2]",
    "x not in [1, 2]",
    "x in ['a']",
    "x not in ['a']",
    "x",
]


@pytest.mark.parametrize("text", COMPARISONS_ON_X)
@pytest.mark.parametrize("facts", [{}, {"x": None}, {"x": None, "y": None}], ids=str)
def test_unknown_makes_every_comparison_false(text, facts):
    assert parse_condition(text).evaluate(facts) is False


@pytest.mark.parametrize("text", COMPARISONS_ON_X)
def test_not_of_an_unknown_comparison_is_true(text):
    assert parse_condition(f"not ({text})").evaluate({}) is True


def test_unknown_is_documented_asymmetry():
    # `x != 1` is a comparison, so false when x is unknown; `not (x == 1)` is true.
    assert not holds("x != 1")
    assert holds("not (x == 1)")
    assert holds("not x")
    assert holds("x or y == 2", y=2)
    assert not holds("x and true")


def test_nan_counts_as_unknown():
    for nan in (float("nan"), Decimal("NaN"), Decimal("sNaN")):
        for text in ("x == 1", "x != 1", "x < 1", "x in [1]", "x not in [1]", "x"):
            assert holds(text, x=nan) is False, (text, nan)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x == 1", "1"),
        ("x != 1", "1"),
        ("x < 1", "0"),
        ("x == 'a'", 1),
        ("x != 'a'", 1),
        # bool is not a number
        ("x == 1", True),
        ("x != 1", True),
        ("x == 0", False),
        ("x >= 0", True),
        ("x < 2", False),
        ("x == true", 1),
        ("x != true", 1),
        ("x == false", 0),
        # booleans are not ordered
        ("x > y", True),
        ("x <= y", True),
        # other Python types are never comparable
        ("x == 'a'", ["a"]),
        ("x == 1", [1]),
        ("x == 1", {1: 1}),
        ("x == 1", object()),
        ("x == 'a'", b"a"),
        ("x == 1", 1j),
    ],
)
def test_type_mismatch_is_false(text, value):
    assert holds(text, x=value, y=False) is False


class Grumpy(int):
    """An int whose comparisons blow up."""

    def _refuse(self, other):
        raise RuntimeError("no")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __hash__ = int.__hash__


class BrokenMapping(Mapping[str, object]):
    def __getitem__(self, key: str) -> object:
        raise RuntimeError("broken")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_evaluate_never_raises_on_hostile_values():
    condition = parse_condition("x == 1 or x < 2 or x in [1, 2] or x not in [3] or x")
    assert condition.evaluate({"x": Grumpy(1)}) is False
    assert condition.evaluate(BrokenMapping()) is False
    assert parse_condition("not x").evaluate(BrokenMapping()) is True


# --------------------------------------------------------------------------------------
# The Condition object


def test_condition_interface():
    condition = parse_condition("age >= 18 and (consent or level in ['full']) and 1 == 1")
    assert isinstance(condition, Condition)
    assert condition.source == "age >= 18 and (consent or level in ['full']) and 1 == 1"
    assert condition.names == frozenset({"age", "consent", "level"})
    assert condition == parse_condition(condition.source)
    assert hash(condition) == hash(parse_condition(condition.source))
    with pytest.raises(AttributeError):
        condition.source = "x"  # type: ignore[misc]
    assert parse_condition("true").names == frozenset()


def test_condition_error_interface():
    err = error("a = 1")
    assert isinstance(err, ValueError)
    assert err.message == "use == to compare, not ="
    assert err.column == 2
    assert str(err) == err.message
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.message, copy.column) == (err.message, err.column)


def test_source_is_kept_verbatim_and_columns_count_from_its_start():
    condition = parse_condition("  a\n")
    assert condition.source == "  a\n"
    assert error("  a ==").column == 6


# --------------------------------------------------------------------------------------
# Rejected forms, with their messages and columns

REJECTED = [
    # code injection attempts
    ("__import__('os')", 10, "unexpected '(' after '__import__'"),
    ("__import__('os').system('rm -rf /')", 10, "calls are not allowed"),
    ("a.b", 1, "unexpected character '.'"),
    ("x[0]", 1, "unexpected '['"),
    ("f(x)", 1, "unexpected '(' after 'f'"),
    ("open('/etc/passwd')", 4, "calls are not allowed"),
    ("lambda: 1", 0, "'lambda' is not allowed"),
    ("x if y else z", 2, "'if' is not allowed"),
    ("import os", 0, "'import' is not allowed"),
    ("`a`", 0, "unexpected character '`'"),
    ("a; b", 1, "unexpected character ';'"),
    ("a == 1; import os", 6, "unexpected character ';'"),
    ("{a}", 0, "unexpected character '{'"),
    ("a @ b", 2, "unexpected character '@'"),
    ("a\\b", 1, "unexpected character '\\'"),
    ("a\x00", 1, "unexpected character U+0000"),
    ("a == 'x' # comment", 9, "unexpected character '#'"),
    # operators from other languages
    ("a = 1", 2, "use == to compare, not ="),
    ("a && b", 2, "unknown operator '&&' (use 'and')"),
    ("a & b", 2, "unknown operator '&' (use 'and')"),
    ("a || b", 2, "unknown operator '||' (use 'or')"),
    ("a | b", 2, "unknown operator '|' (use 'or')"),
    ("!a", 0, "unknown operator '!' (use 'not')"),
    ("a <> b", 2, "use != for 'not equal'"),
    ("a =< 1", 2, "write <= instead of =<"),
    ("a => 1", 2, "write >= instead of =>"),
    ("a is 1", 2, "use == (or !=) to compare, not 'is'"),
    ("a + 1 > 2", 2, "unknown operator '+' (arithmetic is not supported)"),
    ("a-1 > 2", 1, "unknown operator '-'"),
    ("a ** 2", 2, "unknown operator '**'"),
    ("a AND b", 2, "write 'and' in lowercase, not 'AND'"),
    ("NOT a", 0, "write 'not' in lowercase"),
    ("a == True", 5, "write 'true' in lowercase"),
    ("a In [1]", 2, "write 'in' in lowercase"),
    # structure
    ("a == ", 5, "expected a value after '=='"),
    ("a ==", 4, "expected a value after '=='"),
    ("a == and b", 5, "expected a value after '==', found 'and'"),
    ("a >= not b", 5, "expected a value after '>='"),
    ("a and", 5, "expected a condition after 'and'"),
    ("a or or b", 5, "expected a condition after 'or', found 'or'"),
    ("not", 3, "expected a condition after 'not'"),
    ("and a", 0, "expected a condition, found 'and'"),
    ("== 1", 0, "expected a condition, found '=='"),
    ("()", 1, "expected a condition after '(', found ')'"),
    ("(a and b", 0, "unclosed '('"),
    ("((a) or (b)", 0, "unclosed '('"),
    ("a and (b or (c)", 6, "unclosed '('"),
    ("a)", 1, "unexpected ')' (no matching '(')"),
    (")", 0, "expected a condition, found ')'"),
    ("a b", 2, "unexpected 'b' (missing 'and' or 'or'?)"),
    ("a 1", 2, "unexpected '1'"),
    ("a 'x'", 2, "unexpected the text 'x'"),
    ("a (b)", 2, "unexpected '('"),
    ("a, b", 1, "unexpected ','"),
    ("a not b", 2, "write 'and not' or 'not in'"),
    ("a < b < c", 6, "only one comparison at a time"),
    ("a == b == c", 7, "only one comparison at a time"),
    ("1 < a <= 5", 6, "only one comparison at a time"),
    ("a == 1 in [1]", 7, "only one comparison at a time"),
    ("a in [1] == true", 9, "only one comparison at a time"),
    ("a in [1] not in [2]", 9, "only one comparison at a time"),
    ("(a) == 1", 4, "can't compare a bracketed condition"),
    ("(a or b) == true", 9, "can't compare a bracketed condition"),
    ("(a) in [1]", 4, "can't compare a bracketed condition"),
    ("a == (1)", 5, "expected a value after '=='"),
    ("5", 0, "a number on its own is not a condition"),
    ("a and 5", 6, "a number on its own is not a condition"),
    ("'yes'", 0, "text on its own is not a condition"),
    ("not 'yes'", 4, "text on its own is not a condition"),
    ("(1.5)", 1, "a number on its own is not a condition"),
    ("a < true", 4, "true can only be compared with == or !="),
    ("false >= a", 0, "false can only be compared with == or !="),
    # lists
    ("a in b", 5, "expected a list after 'in'"),
    ("a not in 'x'", 9, "expected a list after 'in'"),
    ("a in", 4, "expected a list after 'in'"),
    ("a == [1]", 5, "use 'in' to check against a list"),
    ("a in [1,", 5, "unclosed '['"),
    ("a in [1", 5, "unclosed '['"),
    ("a in [", 5, "unclosed '['"),
    ("a in []", 6, "the list after 'in' is empty"),
    ("a in [1, 'x']", 9, "must all be of one kind"),
    ("a in [true, 1]", 12, "must all be of one kind"),
    ("a in [full, advice]", 6, "put text in quotes inside a list: 'full'"),
    ("a in [1 2]", 8, "expected ',' or ']' in the list, found '2'"),
    ("a in [1,]", 8, "expected a value after ',', found ']'"),
    ("a in [,1]", 6, "expected a value after '[', found ','"),
    ("a in [[1]]", 6, "expected a value after '['"),
    ("a in [(1)]", 6, "expected a value after '['"),
    # literals
    ("'abc", 0, "unclosed quote"),
    ("a == 'abc", 5, "unclosed quote: text that starts with ' must end with '"),
    ("a == \"abc'", 5, 'text that starts with " must end with "'),
    ("a == \u2018x\u2019", 5, "use plain ' or \" quotes"),
    ("a == \u201cx\u201d", 5, "use plain ' or \" quotes"),
    ("1abc", 0, "'1abc' is not a number or a name"),
    ("a == 1.", 6, "expected digits after '1.'"),
    ("a == 1.x", 6, "expected digits after '1.'"),
    ("a == .5", 5, "e.g. 0.5"),
    ("a == 1.2.3", 8, "unexpected character '.'"),
    ("a == 1e5", 5, "'1e5' is not a number or a name"),
    ("a == 0x10", 5, "'0x10' is not a number or a name"),
    ("\u00e2ge > 1", 0, "unexpected character '\u00e2'"),
    # empty
    ("", 0, "the condition is empty"),
    ("   ", 0, "the condition is empty"),
    ("\n\t", 0, "the condition is empty"),
]


@pytest.mark.parametrize(("text", "column", "fragment"), REJECTED, ids=[r[0] for r in REJECTED])
def test_rejected(text, column, fragment):
    err = error(text)
    assert fragment in err.message
    assert err.column == column
    assert "\n" not in err.message


def test_leftmost_problem_is_reported():
    # The tokenizer runs lazily, so the parse error at 'b' wins over the ';' further right.
    assert error("a b ;").column == 2
    assert error("a ; b c").column == 2


def test_non_text_is_rejected():
    assert error(True).message == "a condition must be text such as 'age >= 18', not true"  # type: ignore[arg-type]
    assert "not nothing" in error(None).message  # type: ignore[arg-type]
    assert "not a int" in error(5).message  # type: ignore[arg-type]
    assert error(["a"]).column == 0  # type: ignore[arg-type]


def test_import_attempt_is_rejected_before_anything_runs(monkeypatch):
    """`__import__('os')` is a syntax error: nothing is imported, evaluated or compiled."""
    calls: list[tuple[str, tuple[object, ...]]] = []
    real_import = builtins.__import__

    def spy(name):
        real = getattr(builtins, name)

        def wrapper(*args, **kwargs):
            calls.append((name, args))
            return real(*args, **kwargs)

        return wrapper

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, spy(name))

    def import_spy(name, *args, **kwargs):
        calls.append(("__import__", (name,)))
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", import_spy)
    for text in ("__import__('os')", "__import__('os').system('echo hacked')", "eval('1')"):
        with pytest.raises(ConditionError):
            parse_condition(text)
    monkeypatch.undo()
    assert calls == []


def test_module_never_uses_eval_exec_compile_or_ast():
    source = Path(conditions.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    forbidden = {"eval", "exec", "compile", "__import__", "getattr", "literal_eval"}
    assert not names & forbidden
    assert not attributes & forbidden
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not imported & {"ast", "builtins", "importlib", "os", "subprocess", "sys"}


def test_names_are_identifiers_not_python():
    # Fact-like Python spellings are plain names, looked up in the facts and nothing else.
    condition = parse_condition("__builtins__ or __class__ or None")
    assert condition.names == frozenset({"__builtins__", "__class__", "None"})
    assert condition.evaluate({}) is False


# --------------------------------------------------------------------------------------
# Declared facts


DECLARED = ["age", "nrm_consent", "enhanced_rights", "remote_evidence", "support_level"]


def test_known_names_accepts_declared_facts():
    condition = parse_condition(
        "age >= 18 and not remote_evidence and support_level in ['full']", DECLARED
    )
    assert condition.names == {"age", "remote_evidence", "support_level"}


def test_unknown_fact_message_and_column():
    err = error("age >= 18 and not remote_evidnce", DECLARED)
    assert err.column == 18
    assert err.message == (
        "unknown fact 'remote_evidnce' in when: (declared: age, nrm_consent, enhanced_rights, "
        "remote_evidence, support_level); did you mean 'remote_evidence'?"
    )


def test_first_unknown_name_in_reading_order_is_reported():
    err = error("(zzz or age == 1) and yyy", DECLARED)
    assert "'zzz'" in err.message
    assert err.column == 1
    assert error("age == 1 and (b == c)", DECLARED).column == 14
    assert error("age in [1] or x not in [2]", DECLARED).column == 14


def test_unquoted_text_gets_a_hint():
    err = error("support_level == full", DECLARED)
    assert err.column == 17
    assert "if you meant the text 'full', put it in quotes" in err.message


def test_unknown_fact_with_set_of_names_lists_them_sorted():
    err = error("x", known_names={"b", "a", "c"})  # type: ignore[arg-type]
    assert "(declared: a, b, c)" in err.message


def test_unknown_fact_when_nothing_is_declared():
    assert error("x", []).message == "unknown fact 'x' in when: (this journey declares no facts)"


def test_long_declared_list_is_shortened():
    names = [f"fact_{i:02d}" for i in range(30)]
    err = error("nope", names)
    assert "fact_19, ..." in err.message
    assert "fact_20" not in err.message


def test_known_names_may_be_a_mapping():
    declared = {"age": {"type": "integer"}}
    assert parse_condition("age > 1", declared).names == {"age"}
    assert error("agee > 1", declared).column == 0  # type: ignore[arg-type]


def test_syntax_errors_come_before_unknown_names():
    assert "unexpected" in error("nope (", DECLARED).message


def test_without_known_names_anything_goes():
    assert parse_condition("whatever == 1").names == {"whatever"}


# --------------------------------------------------------------------------------------
# Limits


def test_depth_limit_parentheses():
    ok = "(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH
    assert parse_condition(ok).evaluate({"a": True})
    err = error("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    assert err.column == MAX_DEPTH
    assert "nested too deeply" in err.message


def test_depth_limit_not():
    assert parse_condition("not " * MAX_DEPTH + "a").evaluate({"a": True}) is (MAX_DEPTH % 2 == 0)
    err = error("not " * (MAX_DEPTH + 1) + "a")
    assert err.column == 4 * MAX_DEPTH
    assert "nested too deeply" in err.message


def test_depth_limit_mixed():
    assert "nested too deeply" in error("not (" * 26 + "a" + ")" * 26).message


def test_depth_is_nesting_not_count():
    # Many siblings are fine: only nesting counts.
    text = " and ".join(["(not (a))"] * 60)
    assert len(text) < MAX_LENGTH
    assert parse_condition(text).evaluate({"a": False})


def test_hostile_nesting_within_length_never_overflows():
    for text in ("(" * 999, "not " * 249 + "a", "(" * 500 + ")" * 500, "[" * 999):
        with pytest.raises(ConditionError):
            parse_condition(text)


def test_length_limit():
    at_limit = "a == 1" + " " * (MAX_LENGTH - 6)
    assert len(at_limit) == MAX_LENGTH
    assert parse_condition(at_limit).evaluate({"a": 1})
    err = error(at_limit + " ")
    assert err.column == MAX_LENGTH
    assert err.message == "the condition is too long (1,001 characters; the limit is 1,000)"


def test_long_flat_condition_evaluates():
    text = " or ".join(f"a == {i}" for i in range(90))
    assert len(text) <= MAX_LENGTH
    condition = parse_condition(text)
    assert condition.evaluate({"a": 89})
    assert not condition.evaluate({"a": 90})


# --------------------------------------------------------------------------------------
# Property tests

PRINTABLE = st.characters(codec="utf-8", exclude_categories=("Cs",))

VOCABULARY = [
    "a", "b", "age", "level", "__import__", "x", "and", "or", "not", "in", "true", "false",
    "True", "is", "lambda", "==", "!=", "<", "<=", ">", ">=", "=", "!", "&&", "||", "(", ")",
    "[", "]", ",", ".", ";", "`", "1", "-1", "2.5", "007", "'x'", '"y"', "'", '"', "+", "-",
    "1.", "\u2018", " ", "\n",
]  # fmt: skip

FACT_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.text(max_size=5),
    st.sampled_from(["x", "y", "1", "true", ""]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.builds(object),
    st.complex_numbers(allow_nan=True),
    st.binary(max_size=3),
)
FACTS = st.dictionaries(st.sampled_from(["a", "b", "age", "level", "x"]), FACT_VALUES)


def check_parse(text: str) -> Condition | None:
    try:
        condition = parse_condition(text)
    except ConditionError as err:
        assert type(err.message) is str and err.message
        assert "\n" not in err.message and "\r" not in err.message
        assert 0 <= err.column <= len(text)
        return None
    assert condition.source == text
    return condition


@settings(max_examples=400)
@given(st.text(PRINTABLE, max_size=120))
def test_random_text_parses_or_raises_condition_error(text):
    check_parse(text)


@settings(max_examples=600)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=14).map(" ".join), FACTS)
def test_token_soup_parses_or_raises_and_evaluates_to_bool(text, facts):
    condition = check_parse(text)
    if condition is not None:
        assert condition.evaluate(facts) in (True, False)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=14).map("".join))
def test_token_soup_without_spaces(text):
    check_parse(text)


LEAVES = [
    ("a", lambda f: f.get("a") is True),
    ("b", lambda f: f.get("b") is True),
    ("age >= 18", lambda f: type(f.get("age")) is int and f["age"] >= 18),
    ("age != 3", lambda f: type(f.get("age")) is int and f["age"] != 3),
    ("level == 'full'", lambda f: f.get("level") == "full"),
    ("level in ['full', 'advice']", lambda f: f.get("level") in ("full", "advice")),
    (
        "level not in ['full']",
        lambda f: isinstance(f.get("level"), str) and f["level"] != "full",
    ),
    ("true", lambda f: True),
    ("false", lambda f: False),
]

PRECEDENCE = {"or": 1, "and": 2, "not": 3, "leaf": 4}


@st.composite
def expressions(draw, depth=0):
    """(text, reference, precedence), rendered with the fewest parentheses needed."""
    choice = draw(st.sampled_from(["leaf", "leaf", "not", "and", "or"] if depth < 4 else ["leaf"]))
    if choice == "leaf":
        text, ref = draw(st.sampled_from(LEAVES))
        level = PRECEDENCE["leaf"]
    elif choice == "not":
        inner_text, inner_ref, inner_level = draw(expressions(depth + 1))
        if inner_level < PRECEDENCE["not"]:
            inner_text = f"({inner_text})"
        text = f"not {inner_text}"
        level = PRECEDENCE["not"]

        def ref(f, inner_ref=inner_ref):
            return not inner_ref(f)
    else:
        left_text, left_ref, left_level = draw(expressions(depth + 1))
        right_text, right_ref, right_level = draw(expressions(depth + 1))
        level = PRECEDENCE[choice]
        # and/or are associative, so equal precedence needs no brackets on either side
        if left_level < level:
            left_text = f"({left_text})"
        if right_level < level:
            right_text = f"({right_text})"
        text = f"{left_text} {choice} {right_text}"
        if choice == "and":

            def ref(f, left_ref=left_ref, right_ref=right_ref):
                return left_ref(f) and right_ref(f)
        else:

            def ref(f, left_ref=left_ref, right_ref=right_ref):
                return left_ref(f) or right_ref(f)

    if draw(st.booleans()) and draw(st.integers(0, 4)) == 0:
        text, level = f"({text})", PRECEDENCE["leaf"]
    return text, ref, level


REFERENCE_FACTS = st.fixed_dictionaries(
    {},
    optional={
        "a": st.one_of(st.none(), st.booleans(), st.integers(0, 1)),
        "b": st.one_of(st.none(), st.booleans(), st.just("true")),
        "age": st.one_of(st.none(), st.integers(0, 40), st.booleans(), st.just("20")),
        "level": st.one_of(st.none(), st.sampled_from(["full", "advice", "other"]), st.just(1)),
    },
)


@settings(max_examples=500)
@given(expressions(), REFERENCE_FACTS)
def test_generated_expressions_match_reference_semantics(expression, facts):
    text, ref, _ = expression
    assert parse_condition(text).evaluate(facts) is ref(facts)


@settings(max_examples=300)
@given(
    st.sampled_from(
        [
            "x == 1",
            "x != 1",
            "x < 2.5",
            "x >= -3",
            "x == 'a'",
            "x < 'm'",
            "x == true",
            "x != false",
            "x in [1, 2]",
            "x not in [1.5, 2]",
            "x in ['a', 'b']",
            "x not in [true]",
            "x",
            "not x",
            "x == age",
            "x < age",
            "x or age > 1 and not level in ['x']",
        ]
    ),
    FACTS,
)
def test_evaluate_never_raises_on_random_facts(text, facts):
    assert parse_condition(text).evaluate(facts) in (True, False)
