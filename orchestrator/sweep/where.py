"""`--where`: a small expression language over parameter names that filters a sweep's grid.

    fast < slow
    slow >= 2 * fast and not (fast == 10 or slow % 20 != 0)
    mode == "FAST" and use_stops

Numbers, strings (an enum parameter compares by its member's name), true/false, parameter
names; comparisons (chained too), + - * / // % and unary minus, and/or/not, parentheses. The text
is parsed by Python's parser into a tree and the tree is interpreted here, node by node: nothing
is ever evaluated as Python, and anything outside the language (a call, an attribute, a
subscript, a lambda) is refused with its position.
"""

from __future__ import annotations

import ast
import difflib
import enum
import operator
from collections.abc import Callable, Iterable
from typing import Any

MAX_LENGTH = 1000

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_ARITH: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_WORDS = {"true": True, "false": False, "True": True, "False": False}


class WhereError(ValueError):
    """The expression is not in the language, names an unknown parameter, or cannot be evaluated."""


class Where:
    """A checked expression; `holds(point)` evaluates it for one combination of values."""

    def __init__(self, text: str, names: Iterable[str]) -> None:
        self.text = text
        self.names = set(names)
        if len(text) > MAX_LENGTH:
            raise WhereError(f"longer than {MAX_LENGTH} characters")
        try:
            self.tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as exc:
            raise WhereError(f"not a valid expression at column {exc.offset or 0}: {exc.msg}") from None
        problems: list[str] = []
        self._check(self.tree, problems)
        if problems:
            raise WhereError("; ".join(dict.fromkeys(problems)))

    def _check(self, node: ast.AST, problems: list[str]) -> None:
        where = f"column {getattr(node, 'col_offset', 0) + 1}"
        if isinstance(node, ast.Name):
            if node.id not in self.names and node.id not in _WORDS:
                guess = difflib.get_close_matches(node.id, sorted(self.names), n=1)
                hint = f" (did you mean {guess[0]!r}?)" if guess else f" (parameters: {', '.join(sorted(self.names))})"
                problems.append(f"unknown name {node.id!r}{hint}")
            return
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (bool, int, float, str)):
                return
            problems.append(f"{where}: {node.value!r} is not a number, string or true/false")
            return
        if isinstance(node, ast.BoolOp) or isinstance(node, ast.Compare) and all(type(o) in _COMPARE for o in node.ops) \
                or isinstance(node, ast.BinOp) and type(node.op) in _ARITH \
                or isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, (ast.operator, ast.cmpop, ast.boolop, ast.unaryop)):
                    self._check(child, problems)
            return
        what = {ast.Call: "a function call", ast.Attribute: "an attribute", ast.Subscript: "a subscript"}.get(type(node))
        problems.append(f"{where}: {what or type(node).__name__ + ' (' + ast.unparse(node) + ')'} is not allowed")

    def holds(self, point: dict[str, Any]) -> bool:
        try:
            return bool(self._eval(self.tree, point))
        except ZeroDivisionError:
            raise WhereError(f"division by zero at {_shown(point)}") from None
        except TypeError as exc:
            raise WhereError(f"cannot be evaluated at {_shown(point)}: {exc}") from None

    def _eval(self, node: ast.AST, point: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in point:
                value = point[node.id]
                return value.name if isinstance(value, enum.Enum) else value
            return _WORDS[node.id]
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._eval(v, point) for v in node.values)
            return any(self._eval(v, point) for v in node.values)
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, point)
            return not value if isinstance(node.op, ast.Not) else -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BinOp):
            return _ARITH[type(node.op)](self._eval(node.left, point), self._eval(node.right, point))
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, point)
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node, point)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        raise WhereError(f"{type(node).__name__} is not allowed")  # pragma: no cover - refused by _check


def _shown(point: dict[str, Any]) -> str:
    return " ".join(f"{k}={v.name if isinstance(v, enum.Enum) else v}" for k, v in point.items())
