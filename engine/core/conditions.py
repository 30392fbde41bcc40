"""Safe `when:` conditions: a tiny boolean language over a case's facts.

A journey's `when:` is parsed once, at load time, by the hand-written tokenizer and
recursive-descent parser below into a small tree of frozen dataclasses, and evaluated by
walking that tree. Nothing is ever passed to `eval`, `exec`, `compile` or the `ast` module;
there is no attribute access, no calls and no subscripts, so text such as
`__import__('os')` is a syntax error before anything runs.

The language (precedence from loosest to tightest: `or`, `and`, `not`, comparison/`in`):

    condition  := or
    or         := and ('or' and)*
    and        := not ('and' not)*
    not        := 'not' not | '(' condition ')' | comparison
    comparison := value [ ('==' | '!=' | '<' | '<=' | '>' | '>=') value
                        | ['not'] 'in' '[' literal (',' literal)* ']' ]
    value      := fact_name | literal
    literal    := 'true' | 'false' | number | 'text' | "text"

- Numbers are whole (`18`, `-1`) or decimal (`2.5`). Text has no escapes: use the other
  quote style to include a quote (`"O'Brien"`).
- Only one comparison at a time: `a < b < c` is rejected (write `a < b and b < c`).
- Comparison operands are fact names or literals, not bracketed conditions.
- A number or text on its own is not a condition; a fact name on its own is true only when
  the fact's value is the boolean `true`.
- The values in a list are all of one kind (numbers, text, or true/false).
- Keywords are lowercase; Python words such as `lambda`, `if` or `is` are rejected.

Evaluation (never raises):

- Facts come as a mapping with defaults already applied. A name that is absent, or maps to
  `None`, is *unknown*: every comparison and every `in` / `not in` involving an unknown
  value is false, and an unknown name on its own is false. So `not (x == 1)` is true when x
  is unknown, while `x != 1` is false.
- Values have three kinds: booleans, numbers (int, float, Decimal, Fraction; NaN counts as
  unknown) and text. Booleans are *not* numbers here (`true == 1` is false). A comparison
  between different kinds is false, `<`/`<=`/`>`/`>=` between booleans is false, and so is
  any comparison with a value of another type (a list, a date...).
- `x in [..]` is true when x equals one of the values; `x not in [..]` is true when x is
  known, of the list's kind, and equals none of them (i.e. `!=` holds for every value).

Types (language 1.1), when the journey's facts are given: each comparison is checked
against its fact's declared type, and one that could never be true is a load-time error at
its character: booleans only with true/false (an unquoted `yes`, `no`, `on` or `off` is
told so), integers with numbers within `min`/`max`, choices with their declared choices,
text with text; a fact alone must be a boolean; two facts must be of one kind.

Limits, so a hostile journey cannot exhaust the parser: at most `MAX_LENGTH` characters and
at most `MAX_DEPTH` brackets or `not`s inside each other.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Final, Protocol

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "And",
    "Compare",
    "Condition",
    "ConditionError",
    "FactName",
    "Literal",
    "Membership",
    "Node",
    "Not",
    "Or",
    "parse_condition",
]

MAX_LENGTH: Final = 1000
MAX_DEPTH: Final = 50


class ConditionError(ValueError):
    """A `when:` that cannot be used: one human line, and the 0-based column of the problem."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message, column)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------
# The tree


@dataclass(frozen=True, slots=True)
class Literal:
    value: bool | int | Decimal | str
    column: int


@dataclass(frozen=True, slots=True)
class FactName:
    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # one of == != < <= > >=
    left: Literal | FactName
    right: Literal | FactName
    column: int  # of the operator


@dataclass(frozen=True, slots=True)
class Membership:
    value: Literal | FactName
    items: tuple[Literal, ...]
    negated: bool  # `not in`
    column: int  # of `in` / `not`


Node = Literal | FactName | Not | And | Or | Compare | Membership


@dataclass(frozen=True)
class Condition:
    """A parsed `when:`. Build it with `parse_condition`."""

    source: str
    names: frozenset[str]  # the fact names the expression refers to
    tree: Node = field(repr=False, compare=False)

    def evaluate(self, facts: Mapping[str, object]) -> bool:
        """True when the condition holds for these facts. Never raises."""
        return _truth(self.tree, facts)


# --------------------------------------------------------------------------------------
# Evaluation


def _kind(value: object) -> str | None:
    """'bool', 'number' or 'text'; None for unknown values and anything else."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | Fraction):
        return "number"
    if isinstance(value, float):
        return None if math.isnan(value) else "number"
    if isinstance(value, Decimal):
        return None if value.is_nan() else "number"
    return None


_OPERATORS: Final[dict[str, Callable[[object, object], object]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compare(op: str, left: object, right: object) -> bool:
    kind = _kind(left)
    if kind is None or kind != _kind(right):
        return False
    if kind == "bool" and op not in ("==", "!="):
        return False
    try:
        return bool(_OPERATORS[op](left, right))
    except Exception:  # an odd subclass or a Decimal signal: false, never a crash
        return False


def _value(node: Literal | FactName, facts: Mapping[str, object]) -> object:
    if isinstance(node, Literal):
        return node.value
    try:
        return facts.get(node.name)
    except Exception:  # a broken mapping: the fact is unknown
        return None


def _truth(node: Node, facts: Mapping[str, object]) -> bool:
    match node:
        case Or(operands):
            return any(_truth(operand, facts) for operand in operands)
        case And(operands):
            return all(_truth(operand, facts) for operand in operands)
        case Not(operand):
            return not _truth(operand, facts)
        case Compare(op, left, right):
            return _compare(op, _value(left, facts), _value(right, facts))
        case Membership(value, items, negated):
            subject = _value(value, facts)
            if negated:
                return all(_compare("!=", subject, item.value) for item in items)
            return any(_compare("==", subject, item.value) for item in items)
        case Literal() | FactName():
            return _value(node, facts) is True
    return False


# --------------------------------------------------------------------------------------
# Tokens

_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false"})
# Python words a journey author might try; rejected so they never read as fact names.
_RESERVED: Final = frozenset(
    {
        "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
        "lambda", "nonlocal", "pass", "raise", "return", "try", "while", "with", "yield",
    }
)  # fmt: skip
_COMPARISONS: Final = frozenset(_OPERATORS)
_ASCII_LETTERS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS: Final = frozenset("0123456789")
_WORD_START: Final = frozenset(_ASCII_LETTERS + "_")
_WORD_CHARS: Final = _WORD_START | _DIGITS
_SMART_QUOTES: Final = frozenset("\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00b4")
# Token kinds after which a '-' is subtraction rather than the sign of a number.
_VALUE_KINDS: Final = frozenset({"name", "number", "text", ")", "]"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # name keyword number text op ( ) [ ] , end
    text: str
    column: int
    value: object = None


def _show_char(ch: str) -> str:
    return f"'{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"


def _tokens(text: str) -> Iterator[_Token]:
    """Yield tokens lazily, so the leftmost problem is the one reported."""
    i, n = 0, len(text)
    previous = ""
    while i < n:
        ch = text[i]
        start = i
        if ch.isspace():
            i += 1
            continue
        if ch in _WORD_START:
            while i < n and text[i] in _WORD_CHARS:
                i += 1
            word = text[start:i]
            lower = word.lower()
            if word in _KEYWORDS:
                value = {"true": True, "false": False}.get(word)
                token = _Token("keyword", word, start, value)
            elif lower in _KEYWORDS:
                raise ConditionError(f"write '{lower}' in lowercase, not '{word}'", start)
            elif lower == "is":
                raise ConditionError("use == (or !=) to compare, not 'is'", start)
            elif lower in _RESERVED:
                raise ConditionError(f"'{word}' is not allowed in a condition", start)
            else:
                token = _Token("name", word, start)
        elif ch in _DIGITS or (
            ch == "-" and i + 1 < n and text[i + 1] in _DIGITS and previous not in _VALUE_KINDS
        ):
            i += 1
            while i < n and text[i] in _DIGITS:
                i += 1
            is_decimal = False
            if i < n and text[i] == ".":
                if i + 1 < n and text[i + 1] in _DIGITS:
                    is_decimal = True
                    i += 1
                    while i < n and text[i] in _DIGITS:
                        i += 1
                else:
                    raise ConditionError(f"expected digits after '{text[start : i + 1]}'", i)
            if i < n and text[i] in _WORD_CHARS:
                end = i
                while end < n and text[end] in _WORD_CHARS:
                    end += 1
                raise ConditionError(f"'{text[start:end]}' is not a number or a name", start)
            number = text[start:i]
            token = _Token("number", number, start, Decimal(number) if is_decimal else int(number))
        elif ch in "'\"":
            end = text.find(ch, i + 1)
            if end < 0:
                raise ConditionError(
                    f"unclosed quote: text that starts with {ch} must end with {ch}", start
                )
            i = end + 1
            token = _Token("text", text[start:i], start, text[start + 1 : end])
        elif ch in "=!<>":
            two = text[i : i + 2]
            if two in _COMPARISONS:
                i += 2
                token = _Token("op", two, start)
            elif two == "<>":
                raise ConditionError("use != for 'not equal', not <>", start)
            elif two in ("=<", "=>"):
                raise ConditionError(f"write {two[1]}= instead of {two}", start)
            elif ch in "<>":
                i += 1
                token = _Token("op", ch, start)
            elif ch == "=":
                raise ConditionError("use == to compare, not =", start)
            else:
                raise ConditionError("unknown operator '!' (use 'not')", start)
        elif ch in "()[],":
            i += 1
            token = _Token(ch, ch, start)
        elif ch in "&|":
            op = text[i : i + 2] if text[i : i + 2] == ch * 2 else ch
            word = "and" if ch == "&" else "or"
            raise ConditionError(f"unknown operator '{op}' (use '{word}')", start)
        elif ch in "+-*/%^":
            op = text[i : i + 2] if text[i : i + 2] in ("**", "//") else ch
            raise ConditionError(f"unknown operator '{op}' (arithmetic is not supported)", start)
        elif ch in _SMART_QUOTES:
            raise ConditionError(f"unexpected character '{ch}' (use plain ' or \" quotes)", start)
        elif ch == "." and i + 1 < n and text[i + 1] in _DIGITS and previous not in _VALUE_KINDS:
            raise ConditionError("write a number with a digit before the point, e.g. 0.5", start)
        else:
            raise ConditionError(f"unexpected character {_show_char(ch)}", start)
        previous = token.kind
        yield token
    yield _Token("end", "", n)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end"
    if token.kind == "text":
        shown = token.text if len(token.text) <= 24 else token.text[:20] + "..."
        shown = "".join(c if c.isprintable() else " " for c in shown)
        return f"the text {shown}"
    return f"'{token.text}'"


# --------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str, types: Mapping[str, FactType]) -> None:
        self._types = types  # the declared facts, when known: for the message below
        self._stream = _tokens(text)
        self._buffer: list[_Token] = []
        self._previous: _Token | None = None
        self._depth = 0
        # Every fact name in source order, and whether it is an operand of a comparison.
        self.names: list[tuple[FactName, bool]] = []

    # token access

    def _peek(self, ahead: int = 0) -> _Token:
        while len(self._buffer) <= ahead:
            if self._buffer and self._buffer[-1].kind == "end":
                return self._buffer[-1]
            self._buffer.append(next(self._stream))
        return self._buffer[ahead]

    def _advance(self) -> _Token:
        token = self._peek()
        if token.kind != "end":
            self._buffer.pop(0)
        self._previous = token
        return token

    def _is_keyword(self, word: str, ahead: int = 0) -> bool:
        token = self._peek(ahead)
        return token.kind == "keyword" and token.text == word

    def _at_comparison(self) -> bool:
        return (
            self._peek().kind == "op"
            or self._is_keyword("in")
            or (self._is_keyword("not") and self._is_keyword("in", 1))
        )

    # errors

    def _expected(self, what: str, after: _Token | None, hint: str = "") -> ConditionError:
        token = self._peek()
        message = f"expected {what}"
        if after is not None:
            message += f" after '{after.text}'"
        if token.kind != "end":
            message += f", found {_describe(token)}"
        return ConditionError(message + hint, token.column)

    def _unexpected(self) -> ConditionError:
        token = self._peek()
        previous = self._previous
        message = f"unexpected {_describe(token)}"
        if token.kind == "(" and previous is not None and previous.kind == "name":
            message += f" after '{previous.text}' (calls are not allowed)"
        elif token.kind == "[":
            message += " (a list can only follow 'in')"
        elif token.kind == ")":
            message += " (no matching '(')"
        elif token.kind == ",":
            message += " (commas only separate the values in a list)"
        elif self._is_keyword("not"):
            message += " (write 'and not' or 'not in')"
        elif token.kind in ("name", "number", "text", "keyword", "("):
            message += " (missing 'and' or 'or'?)"
        return ConditionError(message, token.column)

    def _enter(self, token: _Token) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ConditionError(
                f"the condition is nested too deeply (more than {MAX_DEPTH} brackets or "
                "'not's inside each other)",
                token.column,
            )

    # grammar

    def parse(self) -> Node:
        node = self._or(None)
        if self._peek().kind != "end":
            raise self._unexpected()
        return node

    def _or(self, after: _Token | None) -> Node:
        operands = [self._and(after)]
        while self._is_keyword("or"):
            operands.append(self._and(self._advance()))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self, after: _Token | None) -> Node:
        operands = [self._not(after)]
        while self._is_keyword("and"):
            operands.append(self._not(self._advance()))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _not(self, after: _Token | None) -> Node:
        token = self._peek()
        if self._is_keyword("not"):
            self._advance()
            self._enter(token)
            operand = self._not(token)
            self._depth -= 1
            return Not(operand)
        if token.kind == "(":
            self._advance()
            self._enter(token)
            inner = self._or(token)
            if self._peek().kind == "end":
                raise ConditionError("unclosed '('", token.column)
            if self._peek().kind != ")":
                raise self._unexpected()
            self._advance()
            self._depth -= 1
            if self._at_comparison():
                raise ConditionError(
                    f"can't compare a bracketed condition with '{self._peek().text}': "
                    "compare a fact with a value, e.g. age >= 18",
                    self._peek().column,
                )
            return inner
        return self._comparison(after)

    def _comparison(self, after: _Token | None) -> Node:
        left = self._value(after, "a condition")
        token = self._peek()
        node: Node
        if token.kind == "op":
            self._advance()
            right = self._value(token, "a value")
            for side in (left, right):
                if (
                    isinstance(side, Literal)
                    and isinstance(side.value, bool)
                    and token.text not in ("==", "!=")
                ):
                    raise ConditionError(
                        f"{'true' if side.value else 'false'} can only be compared with == or !=",
                        side.column,
                    )
            self._note(left, True)
            self._note(right, True)
            node = Compare(token.text, left, right, token.column)
        elif self._is_keyword("in") or (self._is_keyword("not") and self._is_keyword("in", 1)):
            negated = self._is_keyword("not")
            if negated:
                self._advance()
            in_token = self._advance()
            self._note(left, False)
            node = Membership(left, self._list(in_token, left), negated, token.column)
        else:
            if isinstance(left, Literal) and not isinstance(left.value, bool):
                example = "support_level == 'full'" if isinstance(left.value, str) else "age >= 18"
                what = "text" if isinstance(left.value, str) else "a number"
                raise ConditionError(
                    f"{what} on its own is not a condition: compare a fact with it, e.g. {example}",
                    left.column,
                )
            self._note(left, False)
            return left
        if self._at_comparison():
            raise ConditionError(
                "only one comparison at a time: join them with 'and', e.g. age >= 18 and age < 65",
                self._peek().column,
            )
        return node

    def _note(self, node: Literal | FactName, compared: bool) -> None:
        if isinstance(node, FactName):
            self.names.append((node, compared))

    def _value(self, after: _Token | None, what: str) -> Literal | FactName:
        token = self._peek()
        if token.kind == "name":
            self._advance()
            return FactName(token.text, token.column)
        if (
            token.kind in ("number", "text")
            or self._is_keyword("true")
            or self._is_keyword("false")
        ):
            self._advance()
            return Literal(token.value, token.column)  # type: ignore[arg-type]
        hint = ""
        if token.kind == "[" and after is not None and after.kind == "op":
            hint = " (use 'in' to check against a list)"
        raise self._expected(what, after, hint)

    def _list(self, in_token: _Token, left: Literal | FactName) -> tuple[Literal, ...]:
        opening = self._peek()
        if opening.kind != "[":
            raise self._expected("a list after 'in', like ['full', 'advice']", None)
        self._advance()
        if self._peek().kind == "]":
            raise ConditionError("the list after 'in' is empty", self._peek().column)
        items: list[Literal] = []
        after = opening
        while True:
            token = self._peek()
            if token.kind == "end":
                raise ConditionError("unclosed '['", opening.column)
            if token.kind == "name":
                fact = self._types.get(left.name) if isinstance(left, FactName) else None
                if token.text.lower() in _YES_NO and fact is not None and fact.type == "boolean":
                    raise ConditionError(_BOOLEANS.format(token.text), token.column)
                raise ConditionError(
                    f"put text in quotes inside a list: '{token.text}'", token.column
                )
            if not (
                token.kind in ("number", "text")
                or self._is_keyword("true")
                or self._is_keyword("false")
            ):
                raise self._expected("a value", after)
            self._advance()
            item = Literal(token.value, token.column)  # type: ignore[arg-type]
            if items and _kind(item.value) != _kind(items[0].value):
                raise ConditionError(
                    "the values in a list must all be of one kind "
                    "(all numbers, all text, or true/false)",
                    token.column,
                )
            items.append(item)
            token = self._peek()
            if token.kind == ",":
                after = self._advance()
            elif token.kind == "]":
                self._advance()
                return tuple(items)
            elif token.kind == "end":
                raise ConditionError("unclosed '['", opening.column)
            else:
                raise self._expected("',' or ']' in the list", None)


# --------------------------------------------------------------------------------------
# Entry point


def _unknown_fact(name: str, compared: bool, known_names: Collection[str]) -> str:
    if isinstance(known_names, set | frozenset):
        declared = sorted(str(n) for n in known_names)
    else:
        declared = [str(n) for n in known_names]
    message = f"unknown fact '{name}' in when:"
    if not declared:
        return message + " (this journey declares no facts)"
    shown = ", ".join(declared[:20]) + (", ..." if len(declared) > 20 else "")
    message += f" (declared: {shown})"
    close = difflib.get_close_matches(name, declared, n=1, cutoff=0.75)
    if close:
        message += f"; did you mean '{close[0]}'?"
    elif compared:
        message += f"; if you meant the text '{name}', put it in quotes"
    return message


def parse_condition(
    text: str,
    known_names: Collection[str] | None = None,
    types: Mapping[str, FactType] | None = None,
) -> Condition:
    """Parse a `when:` expression.

    Raises `ConditionError` on a syntax error, or, when `known_names` is given, on the first
    fact name (in reading order) that is not among them; and, when `types` gives the
    declared facts, on the first comparison that can never be true for its fact's type.
    """
    if not isinstance(text, str):
        if text is None:
            shown = "nothing"
        elif isinstance(text, bool):
            shown = "true" if text else "false"
        else:
            shown = f"a {type(text).__name__}"
        raise ConditionError(f"a condition must be text such as 'age >= 18', not {shown}", 0)
    if len(text) > MAX_LENGTH:
        raise ConditionError(
            f"the condition is too long ({len(text):,} characters; the limit is {MAX_LENGTH:,})",
            MAX_LENGTH,
        )
    if not text.strip():
        raise ConditionError("the condition is empty", 0)
    parser = _Parser(text, types or {})
    tree = parser.parse()
    if known_names is not None:
        for node, compared in parser.names:
            if node.name not in known_names:
                if types and _partner_is_boolean(tree, node, types):
                    raise ConditionError(_BOOLEANS.format(node.name), node.column)
                raise ConditionError(_unknown_fact(node.name, compared, known_names), node.column)
    if types:
        _check_types(tree, types)
    return Condition(text, frozenset(node.name for node, _ in parser.names), tree)


# --------------------------------------------------------------------------------------
# Types: comparisons that can never be true


class FactType(Protocol):
    """What the type check needs of a declared fact (`engine.core.journey.Fact`)."""

    type: str
    min: int | None
    max: int | None
    choices: tuple[str, ...] | None


# YAML's other words for true and false: written unquoted in a condition they read as names
_YES_NO: Final = frozenset({"yes", "no", "on", "off"})
_BOOLEANS: Final = "booleans are written true or false, not {}"
_KIND_OF_TYPE: Final = {"boolean": "bool", "integer": "number", "text": "text", "choice": "text"}
_WHAT: Final = {
    "boolean": "true or false",
    "integer": "a whole number",
    "text": "text",
    "choice": "a choice",
}
_FLIPPED: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _show(node: Literal | FactName) -> str:
    if isinstance(node, FactName):
        return node.name
    if isinstance(node.value, bool):
        return "true" if node.value else "false"
    if isinstance(node.value, str):
        return repr(node.value) if "'" not in node.value else f'"{node.value}"'
    return str(node.value)


def _comparisons(node: Node) -> Iterator[Node]:
    """Every comparison, membership and lone value of a tree, in reading order."""
    match node:
        case Or(operands) | And(operands):
            for operand in operands:
                yield from _comparisons(operand)
        case Not(operand):
            yield from _comparisons(operand)
        case _:
            yield node


def _partner_is_boolean(tree: Node, name: FactName, types: Mapping[str, FactType]) -> bool:
    """Whether an undeclared `yes`/`no`/`on`/`off` is compared with a boolean fact."""
    if name.name.lower() not in _YES_NO:
        return False
    for node in _comparisons(tree):
        if isinstance(node, Compare) and name in (node.left, node.right):
            other = node.right if node.left is name else node.left
            fact = types.get(other.name) if isinstance(other, FactName) else None
            return fact is not None and fact.type == "boolean"
    return False


def _check_types(tree: Node, types: Mapping[str, FactType]) -> None:
    """Raise ConditionError at the first comparison that can never be true."""
    for node in _comparisons(tree):
        match node:
            case FactName(name, column) if name in types and types[name].type != "boolean":
                fact = types[name]
                raise ConditionError(
                    f"{name} is {_WHAT[fact.type]}, not true or false: on its own it is never "
                    f"true; compare it, such as {_example(name, fact)}",
                    column,
                )
            case Compare(op, left, right, column):
                _check_compare(op, left, right, column, types)
            case Membership(value, items, negated, column):
                if isinstance(value, Literal):
                    if not _truth(node, {}):
                        raise ConditionError(
                            f"'{_show(value)} {'not in' if negated else 'in'} [...]' can never "
                            "be true: it tests a value, not a fact",
                            column,
                        )
                    continue
                for item in items:
                    _check_value(value, "==", item, types)


def _check_compare(
    op: str,
    left: Literal | FactName,
    right: Literal | FactName,
    column: int,
    types: Mapping[str, FactType],
) -> None:
    shown = f"{_show(left)} {op} {_show(right)}"
    if isinstance(left, Literal) and isinstance(right, Literal):
        if not _compare(op, left.value, right.value):
            raise ConditionError(
                f"'{shown}' can never be true: it compares two values, not a fact", column
            )
        return
    if isinstance(left, FactName) and isinstance(right, FactName):
        a, b = types.get(left.name), types.get(right.name)
        if a is None or b is None:
            return
        if _KIND_OF_TYPE[a.type] != _KIND_OF_TYPE[b.type]:
            raise ConditionError(
                f"'{shown}' can never be true: {left.name} is {_WHAT[a.type]} and "
                f"{right.name} is {_WHAT[b.type]}",
                column,
            )
        if a.type == "boolean" and op not in ("==", "!="):
            raise ConditionError(
                f"'{shown}' can never be true: true or false facts are only compared with == or !=",
                column,
            )
        return
    if isinstance(left, FactName):
        _check_value(left, op, right, types)  # type: ignore[arg-type]
    else:
        _check_value(right, _FLIPPED[op], left, types)  # type: ignore[arg-type]


def _check_value(name: FactName, op: str, value: Literal, types: Mapping[str, FactType]) -> None:
    """`name op value` (the fact on the left) against the fact's declared type."""
    fact = types.get(name.name)
    if fact is None:
        return
    kind = _kind(value.value)
    if fact.type == "boolean":
        if kind != "bool":
            raise ConditionError(_BOOLEANS.format(_show(value)), value.column)
        return
    if fact.type == "integer":
        if kind != "number":
            raise ConditionError(
                f"{name.name} is a whole number: compare it with a number, not {_show(value)}",
                value.column,
            )
        reason = _out_of_range(op, value.value, fact)  # type: ignore[arg-type]
        if reason:
            raise ConditionError(
                f"'{name.name} {op} {_show(value)}' can never be true: {reason}", value.column
            )
        return
    if kind != "text":
        raise ConditionError(
            f"{name.name} is {_WHAT[fact.type]}: put the value in quotes, such as "
            f"{name.name} {op} '{_show(value)}'",
            value.column,
        )
    if fact.type == "choice" and value.value not in (fact.choices or ()):
        choices = ", ".join(fact.choices or ())
        close = difflib.get_close_matches(str(value.value), list(fact.choices or ()), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConditionError(
            f"{_show(value)} is not a choice of {name.name} (choices: {choices}){hint}",
            value.column,
        )


def _out_of_range(op: str, value: int | Decimal, fact: FactType) -> str | None:
    """Why `fact op value` is false for every whole number between the fact's bounds."""
    low, high = fact.min, fact.max
    if op == "==" and value != int(value):
        return f"{value} is not a whole number"
    if op == "==" and low is not None and value < low:
        return f"the fact is at least {low}"
    if op == "==" and high is not None and value > high:
        return f"the fact is at most {high}"
    if op == "!=" and low is not None and low == high == value:
        return f"the fact can only be {low}"
    if op == "<" and low is not None and value <= low:
        return f"the fact is at least {low}"
    if op == "<=" and low is not None and value < low:
        return f"the fact is at least {low}"
    if op == ">" and high is not None and value >= high:
        return f"the fact is at most {high}"
    if op == ">=" and high is not None and value > high:
        return f"the fact is at most {high}"
    return None


def _example(name: str, fact: FactType) -> str:
    if fact.type == "integer":
        return f"{name} >= {fact.min if fact.min is not None else 1}"
    if fact.type == "choice" and fact.choices:
        return f"{name} == '{fact.choices[0]}'"
    return f"{name} == 'some text'"
