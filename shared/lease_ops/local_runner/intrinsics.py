"""Intrinsic functions in ``.$`` fields of Parameters and ResultSelector: ``States.Format`` and ``States.MathRandom``.

``"key.$": "States.Format('{}#{}', $$.Execution.Id, $$.Execution.RedriveCount)"``
builds a string from literals, paths of the state's input (``$``) or of the
context object (``$$``), and nested intrinsics. The rules are the Amazon States
Language's (https://states-language.net/spec.html, Appendix B, States.Format) and
the Step Functions guide's
(https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html):

- each ``{}`` of the first argument is replaced by the next argument's value, and
  there are exactly as many arguments left as there are ``{}``;
- a value is written in its natural string representation: a string without
  quotes, a number as JSON writes it (``1``, ``2.5``), ``true``/``false``,
  ``null``; an object or array is an error (``States.IntrinsicFailure``);
- inside a quoted literal, ``\\'``, ``\\{``, ``\\}`` and ``\\\\`` stand for the
  character itself, so ``\\{\\}`` is a literal ``{}`` and not a placeholder.

``States.MathRandom(start, end)`` (the poll ladder's jittered waits) is an integer drawn uniformly
from ``start`` up to ``end``, with ``end`` not drawn (so ``start`` is always the smallest value,
whichever way AWS counts ``end``: what the history-quota bound relies on); a seed argument is refused.
It draws from the generator ``evaluate`` is given, the execution's own (seeded by ``LocalRunner(seed=...)``),
so a seeded run draws the same waits every time.

Any other intrinsic is refused up front by ``check`` (the definition check), as
the runner refuses everything it does not implement.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lease_ops.local_runner.errors import INTRINSIC_FAILURE, StatesError, UnsupportedDefinition

if TYPE_CHECKING:
    import random

FORMAT = "States.Format"
MATH_RANDOM = "States.MathRandom"
SUPPORTED = frozenset({FORMAT, MATH_RANDOM})
MAX_NESTING = 10  # "You can nest up to 10 intrinsic functions within a field" (the guide above)
RESERVED = "'{}\\"  # the characters a backslash escapes inside a quoted literal


@dataclass(frozen=True)
class Text:
    """A quoted literal, kept with its backslash escapes (a format template needs to see them)."""

    raw: str


@dataclass(frozen=True)
class Literal:
    value: Any  # a number, true, false or null


@dataclass(frozen=True)
class Path:
    path: str  # "$..." in the state's input, "$$..." in the context object


@dataclass(frozen=True)
class Call:
    name: str
    arguments: tuple[Text | Literal | Path | Call, ...]


Argument = Text | Literal | Path | Call


def is_intrinsic(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("States.")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def fail(self, reason: str) -> UnsupportedDefinition:
        return UnsupportedDefinition(f"invalid intrinsic function {self.text!r}: {reason} at character {self.at}")

    def skip_spaces(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def call(self, depth: int) -> Call:
        if depth > MAX_NESTING:
            raise self.fail(f"more than {MAX_NESTING} nested intrinsic functions")
        start = self.at
        while self.at < len(self.text) and (self.text[self.at].isalnum() or self.text[self.at] in "._"):
            self.at += 1
        name = self.text[start : self.at]
        if not name.startswith("States.") or self.peek() != "(":
            raise self.fail("expected States.<Name>(")
        self.at += 1
        arguments: list[Argument] = []
        self.skip_spaces()
        if self.peek() == ")":
            self.at += 1
            return Call(name, ())
        while True:
            self.skip_spaces()
            arguments.append(self.argument(depth))
            self.skip_spaces()
            separator = self.peek()
            self.at += 1
            if separator == ")":
                return Call(name, tuple(arguments))
            if separator != ",":
                raise self.fail("expected ',' or ')'")

    def argument(self, depth: int) -> Argument:
        first = self.peek()
        if first == "'":
            return self.quoted()
        if first == "$":
            return self.path()
        if self.text.startswith("States.", self.at):
            return self.call(depth + 1)
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in ",) \t\n":
            self.at += 1
        word = self.text[start : self.at]
        if word in ("true", "false", "null"):
            return Literal(json.loads(word))
        try:
            number = json.loads(word)
        except ValueError:
            raise self.fail(f"{word!r} is not a literal, a path or an intrinsic function") from None
        if not isinstance(number, int | float) or isinstance(number, bool):
            raise self.fail(f"{word!r} is not a number")
        return Literal(number)

    def quoted(self) -> Text:
        self.at += 1
        start = self.at
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == "\\":
                self.at += 2
                continue
            if char == "'":
                self.at += 1
                return Text(self.text[start : self.at - 1])
            self.at += 1
        raise self.fail("unterminated quoted literal")

    def path(self) -> Path:
        start, brackets, quote = self.at, 0, ""
        while self.at < len(self.text):
            char = self.text[self.at]
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "[":
                brackets += 1
            elif char == "]":
                brackets -= 1
            elif brackets == 0 and (char in ",)" or char.isspace()):
                break
            self.at += 1
        return Path(self.text[start : self.at])


def parse(text: str) -> Call:
    parser = _Parser(text)
    call = parser.call(1)
    parser.skip_spaces()
    if parser.at != len(text):
        raise parser.fail("unexpected text after the closing ')'")
    return call


def _pieces(template: str) -> list[str | None]:
    """A template as literal text pieces and placeholders (None), with its backslash escapes applied."""
    pieces: list[str | None] = []
    text: list[str] = []
    at = 0
    while at < len(template):
        char = template[at]
        if char == "\\" and at + 1 < len(template):
            following = template[at + 1]
            text.append(following if following in RESERVED else char + following)
            at += 2
        elif template.startswith("{}", at):
            pieces.extend(["".join(text), None])
            text = []
            at += 2
        else:
            text.append(char)
            at += 1
    pieces.append("".join(text))
    return pieces


def _unescape(raw: str) -> str:
    """A quoted literal's value: each backslash escape of a reserved character is that character."""
    chars: list[str] = []
    at = 0
    while at < len(raw):
        if raw[at] == "\\" and at + 1 < len(raw) and raw[at + 1] in RESERVED:
            chars.append(raw[at + 1])
            at += 2
        else:
            chars.append(raw[at])
            at += 1
    return "".join(chars)


def check(text: str, where: str, check_path: Callable[[str], None]) -> None:
    """Refuse, before running, an intrinsic the runner does not implement or cannot parse."""
    try:
        call = parse(text)
    except UnsupportedDefinition as exc:
        raise UnsupportedDefinition(f"{where}: {exc}") from None
    pending: list[Argument] = [call]
    while pending:
        node = pending.pop()
        if isinstance(node, Path):
            check_path(node.path)
        if not isinstance(node, Call):
            continue
        if node.name not in SUPPORTED:
            raise UnsupportedDefinition(
                f"{where}: intrinsic function {node.name!r} is not supported by the local runner "
                f"(only {', '.join(sorted(SUPPORTED))})"
            )
        if node.name == MATH_RANDOM:
            if len(node.arguments) != 2:
                raise UnsupportedDefinition(f"{where}: {MATH_RANDOM} takes a start and an end (no seed here)")
            pending.extend(node.arguments)
            continue
        if not node.arguments:
            raise UnsupportedDefinition(f"{where}: {FORMAT} needs a template argument")
        template = node.arguments[0]
        if isinstance(template, Text):
            placeholders = _pieces(template.raw).count(None)
            if placeholders != len(node.arguments) - 1:
                raise UnsupportedDefinition(
                    f"{where}: {FORMAT} template has {placeholders} '{{}}' for {len(node.arguments) - 1} arguments"
                )
        pending.extend(node.arguments)


def natural_string(value: Any) -> str:
    """A value as States.Format writes it: strings bare, numbers and literals as JSON writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        raise StatesError(INTRINSIC_FAILURE, f"{FORMAT} cannot format a JSON object or array: {json.dumps(value)}")
    return json.dumps(value)


def _value(node: Argument, resolve: Callable[[str], Any], rng: random.Random) -> Any:
    if isinstance(node, Text):
        return _unescape(node.raw)
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Path):
        return resolve(node.path)
    return _apply(node, resolve, rng)


def _math_random(call: Call, resolve: Callable[[str], Any], rng: random.Random) -> int:
    start, end = (_value(argument, resolve, rng) for argument in call.arguments)
    if not all(isinstance(bound, int) and not isinstance(bound, bool) for bound in (start, end)) or start >= end:
        raise StatesError(INTRINSIC_FAILURE, f"{MATH_RANDOM} needs integers start < end, got {start!r}, {end!r}")
    return rng.randrange(start, end)


def _apply(call: Call, resolve: Callable[[str], Any], rng: random.Random) -> Any:
    if call.name == MATH_RANDOM:
        return _math_random(call, resolve, rng)
    template_node, *arguments = call.arguments
    if isinstance(template_node, Text):
        template = template_node.raw
    else:
        template = _value(template_node, resolve, rng)
        if not isinstance(template, str):
            raise StatesError(INTRINSIC_FAILURE, f"{FORMAT}: the template {template!r} is not a string")
    pieces = _pieces(template)
    if pieces.count(None) != len(arguments):
        raise StatesError(
            INTRINSIC_FAILURE, f"{FORMAT}: {pieces.count(None)} '{{}}' in {template!r} for {len(arguments)} arguments"
        )
    values = iter(natural_string(_value(argument, resolve, rng)) for argument in arguments)
    return "".join(next(values) if piece is None else piece for piece in pieces)


def evaluate(text: str, resolve: Callable[[str], Any], *, rng: random.Random) -> Any:
    """The value of the intrinsic ``text``; ``resolve`` gives the value of a ``$``/``$$`` path, ``rng`` the
    execution's random draws (``States.MathRandom``)."""
    return _apply(parse(text), resolve, rng)
