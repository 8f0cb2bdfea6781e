"""A safe parser for gtmktime filter expressions.

gtmktime selects good time from the spacecraft file with a CFITSIO row-filter expression over the
``SC_DATA`` columns, e.g. ``(DATA_QUAL>0)&&(LAT_CONFIG==1)`` or ``ABS(ROCK_ANGLE)<52``. This module
implements the subset of that language used in practice with a tokenizer and a recursive-descent
parser building a small syntax tree, evaluated with numpy on table columns. Nothing is passed to
Python's ``eval``.

Grammar (lowest to highest precedence)::

    expr    := or
    or      := and  ( ("||" | ".or.")  and )*
    and     := compare ( ("&&" | ".and.") compare )*
    compare := sum  ( ("==" | "=" | "!=" | "<" | "<=" | ">" | ">=") sum )?
    sum     := term ( ("+" | "-") term )*
    term    := unary ( ("*" | "/" | "%") unary )*
    unary   := ("!" | ".not." | "-" | "+") unary | power

As in C and CFITSIO, ``!`` binds tighter than comparisons: write ``!(X > 0)``; ``!X > 0`` is an
error unless ``X`` is a logical column.
    power   := atom ( ("**" | "^") unary )?
    atom    := NUMBER | T | F | NAME ( "[" INTEGER "]" )? | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

Chains of ``&&`` and ``||`` may have any number of terms; parentheses, functions and unary operators
may be nested up to `MAX_NESTING` levels and the syntax tree may be `MAX_DEPTH` levels deep (a
deeper expression is a `~gammapy_lat.errors.FilterExpressionError`, never a ``RecursionError``).

Column names and function names are case-insensitive. Functions: ``ABS``, ``SQRT``, ``EXP``,
``LOG``, ``LOG10``, ``SIN``/``COS``/``TAN`` (radians, as CFITSIO), ``ARCSIN``/``ARCCOS``/
``ARCTAN``, ``MIN``/``MAX`` (two arguments), ``ANGSEP(ra1, dec1, ra2, dec2)`` (degrees) and
``ROUND``/``FLOOR``/``CEIL``. Vector columns are indexed from 1 (``SC_POSITION[3]``).
"""
import re
from dataclasses import dataclass

import numpy as np
from astropy.coordinates import angular_separation

from ..errors import FilterExpressionError

__all__ = ["parse_filter", "FilterExpression", "MAX_NESTING", "MAX_DEPTH"]

#: Deepest nesting of parentheses, function calls and unary/power operators accepted.
MAX_NESTING = 50
#: Deepest syntax tree accepted (``&&``/``||`` chains count as one level).
MAX_DEPTH = 200


@dataclass
class _Token:
    kind: str  # NUMBER, NAME, OP, LPAREN, RPAREN, LBRACKET, RBRACKET, COMMA, END
    text: str
    pos: int


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eEdD][+-]?\d+)?)
  | (?P<dotop>\.(?:and|or|not|eq|ne|lt|le|gt|ge)\.)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|\*\*|[<>=!+\-*/%^])
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<lbracket>\[)
  | (?P<rbracket>\])
  | (?P<comma>,)
    """,
    re.VERBOSE | re.IGNORECASE,
)

_DOTOPS = {
    ".and.": "&&", ".or.": "||", ".not.": "!", ".eq.": "==", ".ne.": "!=", ".lt.": "<", ".le.": "<=",
    ".gt.": ">", ".ge.": ">=",
}  # fmt: skip
_COMPARISONS = {"==", "=", "!=", "<", "<=", ">", ">="}


def _tokenize(expression):
    tokens = []
    pos = 0
    while pos < len(expression):
        match = _TOKEN_RE.match(expression, pos)
        if match is None:
            raise FilterExpressionError(
                f"Unexpected character {expression[pos]!r} in filter expression", expression, pos
            )
        kind = match.lastgroup
        text = match.group(kind)
        if kind == "dotop":
            tokens.append(_Token("OP", _DOTOPS[text.lower()], pos))
        elif kind != "ws":
            tokens.append(_Token(kind.upper(), text, pos))
        pos = match.end()
    tokens.append(_Token("END", "", len(expression)))
    return tokens


# ---------------------------------------------------------------------------- syntax tree
@dataclass
class _Node:
    pos: int


@dataclass
class _Number(_Node):
    value: float


@dataclass
class _Bool(_Node):
    value: bool


@dataclass
class _Column(_Node):
    name: str
    index: int = None


@dataclass
class _Unary(_Node):
    op: str
    operand: _Node


@dataclass
class _Binary(_Node):
    op: str
    left: _Node
    right: _Node


@dataclass
class _Call(_Node):
    name: str
    args: list


@dataclass
class _Chain(_Node):
    """``operands[0] op operands[1] op ...`` for the logical operators ``&&`` and ``||``."""

    op: str
    operands: list
    positions: list  # of the operators; positions[i - 1] precedes operands[i]


def _angsep(ra1, dec1, ra2, dec2):
    """Filter function ANGSEP: angular separation in degrees of directions in degrees."""
    return np.degrees(angular_separation(*(np.radians(v) for v in (ra1, dec1, ra2, dec2))))


_FUNCTIONS = {
    "ABS": (1, np.abs),
    "SQRT": (1, np.sqrt),
    "EXP": (1, np.exp),
    "LOG": (1, np.log),
    "LOG10": (1, np.log10),
    "SIN": (1, np.sin),
    "COS": (1, np.cos),
    "TAN": (1, np.tan),
    "ARCSIN": (1, np.arcsin),
    "ARCCOS": (1, np.arccos),
    "ARCTAN": (1, np.arctan),
    "ROUND": (1, np.round),
    "FLOOR": (1, np.floor),
    "CEIL": (1, np.ceil),
    "MIN": (2, np.minimum),
    "MAX": (2, np.maximum),
    "ANGSEP": (4, _angsep),
}


class _Parser:
    def __init__(self, expression):
        self.expression = expression
        self.tokens = _tokenize(expression)
        self.i = 0
        self.depth = 0

    def enter(self, token):
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.error(
                f"Filter expression nested too deeply (more than {MAX_NESTING} levels of parentheses, "
                "functions or unary operators)",
                token,
            )

    def leave(self):
        self.depth -= 1

    @property
    def tok(self):
        return self.tokens[self.i]

    def error(self, message, token=None):
        token = token or self.tok
        raise FilterExpressionError(message, self.expression, token.pos)

    def accept(self, kind, *texts):
        tok = self.tok
        if tok.kind == kind and (not texts or tok.text in texts):
            self.i += 1
            return tok
        return None

    def expect(self, kind, text, what):
        tok = self.accept(kind, text) if text else self.accept(kind)
        if tok is None:
            found = "end of expression" if self.tok.kind == "END" else repr(self.tok.text)
            self.error(f"Expected {what}, found {found}")
        return tok

    def parse(self):
        if self.tok.kind == "END":
            self.error("Empty filter expression")
        node = self.parse_or()
        if self.tok.kind != "END":
            self.error(f"Unexpected {self.tok.text!r} after a complete expression")
        return node

    def parse_or(self):
        operands, positions = [self.parse_and()], []
        while (tok := self.accept("OP", "||")) is not None:
            positions.append(tok.pos)
            operands.append(self.parse_and())
        return operands[0] if not positions else _Chain(positions[0], "||", operands, positions)

    def parse_and(self):
        operands, positions = [self.parse_compare()], []
        while (tok := self.accept("OP", "&&")) is not None:
            positions.append(tok.pos)
            operands.append(self.parse_compare())
        return operands[0] if not positions else _Chain(positions[0], "&&", operands, positions)

    def parse_compare(self):
        node = self.parse_sum()
        tok = self.tok
        if tok.kind == "OP" and tok.text in _COMPARISONS:
            self.i += 1
            op = "==" if tok.text == "=" else tok.text
            node = _Binary(tok.pos, op, node, self.parse_sum())
            nxt = self.tok
            if nxt.kind == "OP" and nxt.text in _COMPARISONS:
                self.error("Chained comparisons are not supported; combine them with &&", nxt)
        return node

    def parse_sum(self):
        node = self.parse_term()
        while (tok := self.accept("OP", "+", "-")) is not None:
            node = _Binary(tok.pos, tok.text, node, self.parse_term())
        return node

    def parse_term(self):
        node = self.parse_unary()
        while (tok := self.accept("OP", "*", "/", "%")) is not None:
            node = _Binary(tok.pos, tok.text, node, self.parse_unary())
        return node

    def parse_unary(self):
        tok = self.accept("OP", "!", "-", "+")
        if tok is not None:
            self.enter(tok)
            node = _Unary(tok.pos, tok.text, self.parse_unary())
            self.leave()
            return node
        return self.parse_power()

    def parse_power(self):
        node = self.parse_atom()
        tok = self.accept("OP", "**", "^")
        if tok is not None:
            self.enter(tok)
            node = _Binary(tok.pos, "**", node, self.parse_unary())
            self.leave()
        return node

    def parse_atom(self):
        tok = self.tok
        if tok.kind == "NUMBER":
            self.i += 1
            return _Number(tok.pos, float(re.sub("[dD]", "e", tok.text)))
        if tok.kind == "LPAREN":
            self.i += 1
            self.enter(tok)
            node = self.parse_or()
            self.expect("RPAREN", None, "')' to close the '(' at position %d" % tok.pos)
            self.leave()
            return node
        if tok.kind == "NAME":
            self.i += 1
            upper = tok.text.upper()
            if self.tok.kind == "LPAREN":
                if upper not in _FUNCTIONS:
                    self.error(
                        f"Unknown function {tok.text!r}; available: {', '.join(sorted(_FUNCTIONS))}", tok
                    )
                self.i += 1
                self.enter(tok)
                args = [self.parse_or()]
                while self.accept("COMMA") is not None:
                    args.append(self.parse_or())
                self.expect("RPAREN", None, f"')' to close {tok.text}(")
                self.leave()
                nargs = _FUNCTIONS[upper][0]
                if len(args) != nargs:
                    self.error(f"{upper} takes {nargs} argument(s), got {len(args)}", tok)
                return _Call(tok.pos, upper, args)
            if upper in ("T", "F"):
                return _Bool(tok.pos, upper == "T")
            index = None
            if self.accept("LBRACKET") is not None:
                num = self.expect("NUMBER", None, "a column index")
                if not num.text.isdigit() or int(num.text) < 1:
                    self.error("Column indices are integers starting at 1", num)
                index = int(num.text)
                self.expect("RBRACKET", None, "']'")
            return _Column(tok.pos, tok.text, index)
        if tok.kind == "END":
            self.error("Unexpected end of filter expression")
        self.error(f"Unexpected {tok.text!r}")


class FilterExpression:
    """A parsed gtmktime filter expression.

    Use :func:`parse_filter` to create one. :meth:`evaluate` returns one boolean per table row.

    Attributes
    ----------
    expression : str
        The source text.
    columns : list of str
        Column names referenced, as written (upper case).
    """

    def __init__(self, expression, tree):
        self.expression = expression
        self._tree = tree
        self.columns = sorted({n.name.upper() for n in _walk(tree) if isinstance(n, _Column)})

    def __repr__(self):
        return f"FilterExpression({self.expression!r})"

    def __str__(self):
        return self.expression

    def evaluate(self, table):
        """Evaluate the expression on every row of ``table``.

        Parameters
        ----------
        table : `~astropy.table.Table` or mapping of column name to array
            E.g. the ``SC_DATA`` table of an FT2 file.

        Returns
        -------
        mask : `~numpy.ndarray` of bool
            True where the expression holds.

        Raises
        ------
        gammapy_lat.errors.FilterExpressionError
            Unknown column (the error points at it), non-boolean result, type mismatch.
        """
        names = list(getattr(table, "colnames", None) or table.keys())
        lookup = {name.upper(): name for name in names}
        nrow = len(table[names[0]]) if names else 0
        with np.errstate(all="ignore"):
            value, is_bool = self._eval(self._tree, table, lookup)
        if not is_bool:
            raise FilterExpressionError(
                "The filter expression does not evaluate to true/false (use a comparison such as "
                "'X > 0')",
                self.expression,
                self._tree.pos,
            )
        return np.broadcast_to(np.asarray(value, dtype=bool), (nrow,)).copy()

    def _err(self, message, node):
        raise FilterExpressionError(message, self.expression, node.pos)

    def _eval(self, node, table, lookup):
        """Return ``(value, is_boolean)``."""
        if isinstance(node, _Number):
            return node.value, False
        if isinstance(node, _Bool):
            return node.value, True
        if isinstance(node, _Column):
            key = node.name.upper()
            if key not in lookup:
                self._err(
                    f"Unknown column {node.name!r}; available columns: {', '.join(sorted(lookup))}", node
                )
            data = np.asarray(table[lookup[key]])
            if node.index is not None:
                if data.ndim != 2 or node.index > data.shape[1]:
                    self._err(f"Column {node.name} has no element [{node.index}]", node)
                data = data[:, node.index - 1]
            elif data.ndim != 1:
                self._err(f"Column {node.name} is a vector column; select an element, e.g. {node.name}[1]", node)
            if data.dtype.kind == "b":
                return data, True
            if data.dtype.kind not in "iuf":
                self._err(f"Column {node.name} is not numeric or logical", node)
            return data.astype(float), False
        if isinstance(node, _Unary):
            value, is_bool = self._eval(node.operand, table, lookup)
            if node.op == "!":
                if not is_bool:
                    self._err("'!' needs a true/false operand (e.g. a comparison)", node)
                return np.logical_not(value), True
            if is_bool:
                self._err(f"'{node.op}' needs a numeric operand", node)
            return (-value if node.op == "-" else value), False
        if isinstance(node, _Call):
            args = []
            for arg in node.args:
                value, is_bool = self._eval(arg, table, lookup)
                if is_bool:
                    self._err(f"{node.name} needs numeric arguments", arg)
                args.append(value)
            return _FUNCTIONS[node.name][1](*args), False
        if isinstance(node, _Chain):
            result = None
            for i, operand in enumerate(node.operands):
                value, is_bool = self._eval(operand, table, lookup)
                if not is_bool:
                    raise FilterExpressionError(
                        f"'{node.op}' needs true/false operands (e.g. comparisons)",
                        self.expression,
                        node.positions[max(i - 1, 0)],
                    )
                if result is None:
                    result = np.asarray(value, dtype=bool)
                else:
                    result = np.logical_and(result, value) if node.op == "&&" else np.logical_or(result, value)
            return result, True
        if isinstance(node, _Binary):
            left, lbool = self._eval(node.left, table, lookup)
            right, rbool = self._eval(node.right, table, lookup)
            op = node.op
            if op in ("&&", "||"):
                if not (lbool and rbool):
                    self._err(f"'{op}' needs true/false operands (e.g. comparisons)", node)
                return (np.logical_and(left, right) if op == "&&" else np.logical_or(left, right)), True
            if op in ("==", "!="):
                if lbool != rbool:
                    self._err(f"'{op}' compares a true/false value with a number", node)
                return (np.equal(left, right) if op == "==" else np.not_equal(left, right)), True
            if lbool or rbool:
                self._err(f"'{op}' needs numeric operands", node)
            if op in ("<", "<=", ">", ">="):
                func = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}[op]
                return func(left, right), True
            func = {
                "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "%": np.fmod,
                "**": np.power,
            }[op]  # fmt: skip
            return func(left, right), False
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover


def _children(node):
    for child in ("operand", "left", "right"):
        if hasattr(node, child):
            yield getattr(node, child)
    yield from getattr(node, "args", None) or []
    yield from getattr(node, "operands", None) or []


def _walk(node):
    """All nodes of a tree (iterative: no recursion limit)."""
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(_children(node))


def _depth(node):
    """Depth of a syntax tree (iterative)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in _children(node))
    return deepest


def parse_filter(expression):
    """Parse a gtmktime filter expression.

    Parameters
    ----------
    expression : str
        E.g. ``"(DATA_QUAL>0)&&(LAT_CONFIG==1)"`` or ``"ABS(ROCK_ANGLE)<52"``.

    Returns
    -------
    filter : `FilterExpression`
        Call ``filter.evaluate(table)`` for a row mask.

    Raises
    ------
    gammapy_lat.errors.FilterExpressionError
        Bad syntax; the error carries the character ``position`` and shows a caret under it.

    Examples
    --------
    >>> from gammapy_lat.data import parse_filter
    >>> f = parse_filter("(DATA_QUAL>0)&&(LAT_CONFIG==1)")
    >>> f.columns
    ['DATA_QUAL', 'LAT_CONFIG']
    """
    if not isinstance(expression, str):
        raise FilterExpressionError(f"A filter expression must be a string, got {type(expression).__name__}")
    tree = _Parser(expression).parse()
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        raise FilterExpressionError(
            f"Filter expression nested too deeply ({depth} levels of operators, at most {MAX_DEPTH}); "
            "long chains of arithmetic operators are not supported",
            expression,
            0,
        )
    return FilterExpression(expression, tree)
