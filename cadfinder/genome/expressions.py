"""Safe arithmetic over genome parameters: numbers, names, + - * / ** ( ) and a few functions.

Parsed with Python's `ast` and walked by hand: nothing is ever passed to eval, so a crafted
genome cannot run code.
"""

from __future__ import annotations

import ast
import math
import operator

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_FUNCS = {"min": min, "max": max, "abs": abs, "sqrt": math.sqrt, "sin": math.sin, "cos": math.cos,
          "tan": math.tan, "radians": math.radians, "floor": math.floor, "ceil": math.ceil, "round": round}
_CONSTS = {"pi": math.pi}


MAX_LENGTH = 1000  # characters (a genome file allows 200)


class ExpressionError(ValueError):
    pass


def _parse(expr: str) -> ast.Expression:
    if len(expr) > MAX_LENGTH:
        raise ExpressionError(f"expression of {len(expr)} characters is longer than {MAX_LENGTH}")
    try:
        return ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"cannot parse {expr[:60]!r}: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"{expr[:60]!r}... is nested too deeply") from None


def names(expr) -> set[str]:
    """The parameter names an expression uses."""
    if not isinstance(expr, str):
        return set()
    tree = _parse(expr)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(_FUNCS) - set(_CONSTS)


def evaluate(expr, params: dict[str, float]) -> float:
    """Value of a number, parameter name or expression; ExpressionError explains what is wrong."""
    if isinstance(expr, bool):
        raise ExpressionError("a boolean is not a dimension")
    if isinstance(expr, (int, float)):
        return float(expr)
    if not isinstance(expr, str):
        raise ExpressionError(f"expected a number or an expression, got {type(expr).__name__}")
    tree = _parse(expr)

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id in params:
                return float(params[node.id])
            if node.id in _CONSTS:
                return _CONSTS[node.id]
            raise ExpressionError(f"{expr!r} uses unknown parameter {node.id!r}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            a, b = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(b) > 16:
                raise ExpressionError(f"exponent {b} too large in {expr!r}")
            try:
                value = _BINOPS[type(node.op)](a, b)
            except ZeroDivisionError:
                raise ExpressionError(f"division by zero in {expr!r}") from None
            except OverflowError:
                raise ExpressionError(f"{expr!r} overflows") from None
            if isinstance(value, complex):  # a negative number to a fractional power
                raise ExpressionError(f"{expr!r} has no real value") from None
            return float(value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = walk(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
                and not node.keywords and 1 <= len(node.args) <= 4):
            try:
                return float(_FUNCS[node.func.id](*[walk(a) for a in node.args]))
            except (ValueError, OverflowError) as e:
                raise ExpressionError(f"{node.func.id}() failed in {expr!r}: {e}") from None
            except TypeError:  # the wrong number of arguments
                raise ExpressionError(f"{node.func.id}() cannot take {len(node.args)} argument(s) in {expr!r}") from None
        raise ExpressionError(f"{expr!r}: only numbers, parameter names, + - * / ** and "
                              f"{', '.join(sorted(_FUNCS))} are allowed")

    try:
        value = walk(tree)
    except RecursionError:
        raise ExpressionError(f"{expr[:60]!r}... is nested too deeply") from None
    if not math.isfinite(value):
        raise ExpressionError(f"{expr!r} is not finite")
    return value
