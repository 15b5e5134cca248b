"""Warp formulas as data: the project's own small grammar, parsed into a tree and evaluated on tensors.

A formula warp comes from text a user typed or from a file someone sent (a PNG's record, a
sidecar, a workspace, a keyframe file, a saved bookmark). Text from outside never reaches an
evaluator of strings (eval, exec, compile, numexpr…): numexpr's own filter was bypassed in
practice, so a picture could run code. Instead this module reads the text with a hand-written
tokenizer and recursive-descent parser that only knows the pieces a warp needs, and evaluates the
resulting tree with torch operations on float64 tensors. Nothing here can name an attribute, a
subscript, a string or any function outside :data:`FUNCTIONS`.

Grammar (lowest precedence first; ``**`` is right-associative and binds tighter than a sign)::

    formula    := either
    either     := both ('|' both)*
    both       := comparison ('&' comparison)*
    comparison := sum [('<' | '<=' | '>' | '>=' | '==' | '!=') sum]
    sum        := product (('+' | '-') product)*
    product    := signed (('*' | '/') signed)*
    signed     := ('+' | '-')* power
    power      := atom ['**' signed]          the exponent: a constant in [-MAX_EXPONENT, MAX_EXPONENT]
    atom       := NUMBER | NAME | FUNCTION '(' formula (',' formula)* ')' | '(' formula ')'

Comparisons give 1 or 0; ``&``, ``|`` and ``where`` treat any non-zero value as true.

Bounds, so that reading a formula is cheap and evaluating it is bounded whatever it says: ASCII
only, at most :data:`MAX_CHARS` characters, :data:`MAX_NODES` nodes and :data:`MAX_DEPTH` nested
parentheses; numbers of magnitude at most :data:`MAX_NUMBER`; powers only by a constant of at most
:data:`MAX_EXPONENT` (float arithmetic throughout: no big integers). Parsing never evaluates
anything but the constant exponent of a power.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import torch

MAX_CHARS = 500
MAX_NODES = 200
MAX_DEPTH = 32
MAX_NUMBER = 1e6
MAX_EXPONENT = 32.0
NAMES = ("x", "y", "r", "a", "pi")
"""Variables (x, y, r, a: see :class:`creps_core.render.views.Warp`) and the one constant."""

Tensor = torch.Tensor
_ONE = Callable[[Tensor], Tensor]


def _where(c: Tensor, a: Tensor, b: Tensor) -> Tensor:
    c, a, b = torch.broadcast_tensors(c, a, b)
    return torch.where(c != 0, a, b)


def _clip(v: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    return torch.minimum(torch.maximum(v, lo), hi)


FUNCTIONS: dict[str, tuple[int, Callable[..., Tensor]]] = {
    "sin": (1, torch.sin), "cos": (1, torch.cos), "tan": (1, torch.tan),
    "sinh": (1, torch.sinh), "cosh": (1, torch.cosh), "tanh": (1, torch.tanh),
    "asin": (1, torch.asin), "acos": (1, torch.acos), "atan": (1, torch.atan), "atan2": (2, torch.atan2),
    "exp": (1, torch.exp), "log": (1, torch.log), "sqrt": (1, torch.sqrt), "abs": (1, torch.abs),
    "floor": (1, torch.floor), "min": (2, torch.minimum), "max": (2, torch.maximum),
    "clip": (3, _clip), "where": (3, _where),
}
"""name -> (number of arguments, torch function). Every function the grammar knows."""

ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2"}
"""numexpr's spellings, so formulas saved before this grammar still open."""

_BINARY: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div, "**": torch.pow,
    "<": lambda a, b: (a < b).double(), "<=": lambda a, b: (a <= b).double(),
    ">": lambda a, b: (a > b).double(), ">=": lambda a, b: (a >= b).double(),
    "==": lambda a, b: (a == b).double(), "!=": lambda a, b: (a != b).double(),
    "&": lambda a, b: ((a != 0) & (b != 0)).double(), "|": lambda a, b: ((a != 0) | (b != 0)).double(),
}
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


class FormulaError(ValueError):
    """A formula the grammar refuses; the message names the offending piece."""


# ----- the tree ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]


Node: TypeAlias = Number | Name | Negate | Binary | Call


# ----- reading -------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<space>[ \t]+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\*\*|<=|>=|==|!=|[-+*/()<>,&|])
""", re.VERBOSE)

_FORBIDDEN = {
    ".": "attributes ('.') are not allowed",
    "[": "subscripts ('[') are not allowed", "]": "subscripts (']') are not allowed",
    "'": "strings are not allowed", '"': "strings are not allowed",
    "^": "'^' is not a power here: write **",
    "=": "assignments ('=') are not allowed: compare with ==",
}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, end
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    for i, ch in enumerate(text):
        if not ch.isascii() or (not ch.isprintable() and ch != "\t"):
            raise FormulaError(f"character U+{ord(ch):04X} at position {i + 1} is not allowed "
                               "(printable ASCII letters, digits and operators only)")
    out: list[_Token] = []
    pos, depth = 0, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            reason = _FORBIDDEN.get(ch, f"character {ch!r} is not allowed")
            raise FormulaError(f"{reason} (position {pos + 1})")
        kind = m.lastgroup
        assert kind is not None  # every alternative of _TOKEN is a named group
        if kind != "space":
            out.append(_Token(kind, m.group(), pos))
            depth += m.group() == "("
            depth -= m.group() == ")"
            if depth > MAX_DEPTH:
                raise FormulaError(f"more than {MAX_DEPTH} nested parentheses")
        pos = m.end()
    out.append(_Token("end", "", len(text)))
    return out


class _Parser:
    """Recursive descent over the grammar in the module docstring; counts nodes as it builds them."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.nodes = 0

    # helpers
    @property
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise FormulaError(f"expected {text!r} at position {tok.at + 1}, found {_shown(tok)}")

    def node(self, n: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FormulaError(f"more than {MAX_NODES} operations and values")
        return n

    # grammar
    def formula(self) -> Node:
        root = self.either()
        if self.peek.kind != "end":
            raise FormulaError(f"unexpected {_shown(self.peek)} at position {self.peek.at + 1}")
        return root

    def _left_assoc(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        left = operand()
        while self.peek.kind == "op" and self.peek.text in ops:
            op = self.take().text
            left = self.node(Binary(op, left, operand()))
        return left

    def either(self) -> Node:
        return self._left_assoc(("|",), self.both)

    def both(self) -> Node:
        return self._left_assoc(("&",), self.comparison)

    def comparison(self) -> Node:
        left = self.sum()
        if self.peek.kind == "op" and self.peek.text in _COMPARISONS:
            op = self.take().text
            left = self.node(Binary(op, left, self.sum()))
            if self.peek.text in _COMPARISONS:
                raise FormulaError(f"chained comparison at position {self.peek.at + 1}: "
                                   "join comparisons with & or |")
        return left

    def sum(self) -> Node:
        return self._left_assoc(("+", "-"), self.product)

    def product(self) -> Node:
        return self._left_assoc(("*", "/"), self.signed)

    def signed(self) -> Node:
        negative = False
        while self.peek.kind == "op" and self.peek.text in ("+", "-"):
            negative ^= self.take().text == "-"
        value = self.power()
        return self.node(Negate(value)) if negative else value

    def power(self) -> Node:
        base = self.atom()
        if self.peek.text != "**":
            return base
        at = self.take().at
        exponent = self.signed()
        value = _constant(exponent)
        if value is None or not abs(value) <= MAX_EXPONENT:
            raise FormulaError(f"the exponent of ** at position {at + 1} must be a constant number between "
                               f"-{MAX_EXPONENT:g} and {MAX_EXPONENT:g}")
        return self.node(Binary("**", base, self.node(Number(value))))

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "number":
            value = float(tok.text)
            if not abs(value) <= MAX_NUMBER:
                raise FormulaError(f"number {tok.text} is too large (at most {MAX_NUMBER:g})")
            return self.node(Number(value))
        if tok.kind == "name":
            return self.call(tok) if self.peek.text == "(" else self.variable(tok)
        if tok.text == "(":
            inner = self.either()
            self.expect(")")
            return inner
        raise FormulaError(f"unexpected {_shown(tok)} at position {tok.at + 1}")

    def variable(self, tok: _Token) -> Node:
        if tok.text == "pi":
            return self.node(Number(math.pi))
        if tok.text not in NAMES:
            hint = " (a function: write it with parentheses)" if _function(tok.text) else ""
            raise FormulaError(f"unknown name {tok.text!r}{hint}; use {', '.join(NAMES)} or a function: "
                               f"{', '.join(FUNCTIONS)}")
        return self.node(Name(tok.text))

    def call(self, tok: _Token) -> Node:
        name = _function(tok.text)
        if name is None:
            raise FormulaError(f"unknown function {tok.text!r}; use one of {', '.join(FUNCTIONS)}")
        self.expect("(")
        args = [self.either()]
        while self.peek.text == ",":
            self.take()
            args.append(self.either())
        self.expect(")")
        arity = FUNCTIONS[name][0]
        if len(args) != arity:
            raise FormulaError(f"{tok.text}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}")
        return self.node(Call(name, tuple(args)))


def _function(name: str) -> str | None:
    name = ALIASES.get(name, name)
    return name if name in FUNCTIONS else None


def _shown(tok: _Token) -> str:
    return "the end" if tok.kind == "end" else repr(tok.text)


def _constant(node: Node) -> float | None:
    """The value of a tree without variables (what a power's exponent must be), else None."""
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Negate):
        inner = _constant(node.operand)
        return None if inner is None else -inner
    if isinstance(node, (Binary, Call)):
        args = (node.left, node.right) if isinstance(node, Binary) else node.args
        values = [_constant(a) for a in args]
        if any(v is None for v in values):
            return None
        out = _evaluate(node, {}, torch.float64) if values else None
        return float(out) if out is not None else None
    return None


# ----- evaluation ----------------------------------------------------------------------------------
def _evaluate(node: Node, names: dict[str, Tensor], dtype: torch.dtype) -> Tensor:
    if isinstance(node, Number):
        return torch.tensor(node.value, dtype=dtype)
    if isinstance(node, Name):
        return names[node.name]
    if isinstance(node, Negate):
        return -_evaluate(node.operand, names, dtype)
    if isinstance(node, Binary):
        return _BINARY[node.op](_evaluate(node.left, names, dtype), _evaluate(node.right, names, dtype))
    return FUNCTIONS[node.function][1](*(_evaluate(a, names, dtype) for a in node.args))


@dataclass(frozen=True)
class Formula:
    """A parsed formula: the text as written (what is saved) and its tree (what is evaluated)."""

    text: str
    tree: Node

    @classmethod
    def parse(cls, text: object) -> Formula:
        """Read ``text`` by the grammar; a :class:`FormulaError` names what it refuses. Never evaluates."""
        if not isinstance(text, str):
            raise FormulaError(f"a formula must be text, got {type(text).__name__}")
        if len(text) > MAX_CHARS:
            raise FormulaError(f"longer than {MAX_CHARS} characters")
        if not text.strip():
            raise FormulaError("empty")
        return cls(text, _Parser(text).formula())

    def evaluate(self, x: Tensor, y: Tensor) -> Tensor:
        """The formula at screen offsets x (columns) and y (rows), float64, shaped like x.

        May hold NaN or inf (a division by zero, log of a negative): callers check."""
        x, y = x.double(), y.double()
        names = {"x": x, "y": y, "r": torch.hypot(x, y), "a": torch.atan2(y, x)}
        return torch.broadcast_to(_evaluate(self.tree, names, torch.float64), x.shape)
