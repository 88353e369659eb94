"""Jinja templates written in chat, rendered in a sandbox with bounds on time, size and work.

Jinja's sandbox keeps a template away from Python internals, but not from the CPU or memory:
`{{ 9**9**9 }}`, `{{ 'x' * 10**9 }}` or two nested loops of 99,999 never end or exhaust the
worker. Here every operation that can grow a value is checked before it runs (repetition,
powers, printf and format widths, padding, replace, join, indent), every value and the output
are capped, loops are counted, calls nested, and a deadline is checked wherever the template
gets control back to us. A template that crosses a bound raises `TemplateTooCostly`.
"""

from __future__ import annotations

import re
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import TemplateRuntimeError, nodes
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer


@dataclass(frozen=True)
class Limits:
    seconds: float = 1.0
    chars: int = 70_000  # any value and the output; above Facebook's 63,206, the longest post
    loop_items: int = 10_000  # loop iterations in one render, all loops together
    range_items: int = 1_000
    depth: int = 20  # macro and function calls inside one another
    int_bits: int = 4_096  # about 1,200 digits


LIMITS = Limits()
# String methods a template may call; the rest (expandtabs, translate, encode, ...) could grow
# a value in ways not worth checking one by one.
_STR_METHODS = frozenset(
    {
        *("capitalize", "casefold", "center", "count", "endswith", "find", "index", "join"),
        *("isalnum", "isalpha", "isdecimal", "isdigit", "islower", "isnumeric", "isspace"),
        *("istitle", "isupper", "ljust", "lower", "lstrip", "partition", "removeprefix"),
        *("removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit"),
        *("rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title"),
        *("upper", "zfill"),
    }
)
_NUMBER = re.compile(r"\d+")


class TemplateTooCostly(TemplateRuntimeError):
    """The template crossed one of the bounds; the message says which, in plain words."""


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """One render's environment: the deadline starts when it is made (parsing included)."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "-", "//", "/"})

    def __init__(self, limits: Limits = LIMITS) -> None:
        super().__init__(autoescape=False, keep_trailing_newline=False)
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.loop_items = 0
        self.depth = 0
        self.globals["range"] = self._range
        self.globals["namespace"] = _bounded_namespace(self)
        self.filters = {name: self._bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters["herald_loop"] = self._loop
        self.filters["herald_concat"] = self._concat
        self.filters["join"] = self._join

    # --- bookkeeping ---------------------------------------------------------------------------

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateTooCostly(f"it ran longer than {self.limits.seconds:g} s")

    def fits(self, value: Any, what: str = "a value") -> Any:
        if _size(value, self.limits.chars) > self.limits.chars:
            raise TemplateTooCostly(f"{what} would exceed {self.limits.chars:,} characters")
        if isinstance(value, int) and value.bit_length() > self.limits.int_bits:
            raise TemplateTooCostly(f"a number would exceed {self.limits.int_bits:,} bits")
        return value

    def _count(self, n: int) -> None:
        if n > self.limits.chars:
            raise TemplateTooCostly(f"a value would exceed {self.limits.chars:,} characters")

    # --- hooks Jinja calls -----------------------------------------------------------------------

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Every `for` loop iterates through `herald_loop` (counts, checks the time) and every
        `~` joins through `herald_concat` (counts before joining)."""
        tree = _Bound().visit(super()._parse(source, name, filename))
        assert isinstance(tree, nodes.Template)
        return tree

    def _loop(self, items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            self.loop_items += 1
            if self.loop_items > self.limits.loop_items:
                raise TemplateTooCostly(f"its loops ran over {self.limits.loop_items:,} times")
            self.tick()
            yield item

    def _concat(self, items: list[Any]) -> str:
        return self.concat(str(item) for item in items)

    def _join(self, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
        """Jinja's `join`, its pieces and separators counted before they are joined."""
        items = list(value)
        if attribute is not None:
            items = [self.getitem(item, attribute) for item in items]
        self._count(_size(items, self.limits.chars) + len(str(d)) * len(items))
        return str(d).join(str(item) for item in items)

    def _range(self, *args: int) -> range:
        for arg in args:
            self.fits(arg)
        items = range(*args)
        if len(items) > self.limits.range_items:
            raise TemplateTooCostly(f"a range has over {self.limits.range_items:,} items")
        return items

    def concat(self, pieces: Iterable[str]) -> str:
        """Joins the output of blocks, macros and `set` blocks: counted before joining."""
        parts: list[str] = []
        total = 0
        for piece in pieces:
            total += len(piece)
            self._count(total)
            parts.append(piece)
        return "".join(parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    self._count(_size(seq, self.limits.chars) * max(times, 0))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left).bit_length() * right > self.limits.int_bits + right:
                raise TemplateTooCostly(f"a number would exceed {self.limits.int_bits:,} bits")
        elif operator == "%" and isinstance(left, str):
            self._printf(left)
        return self.fits(self.binop_table[operator](left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        for value in (*args, *kwargs.values()):
            __self.fits(value, "an argument")
        method = getattr(__obj, "__name__", "")
        owner = getattr(__obj, "__self__", None)
        if isinstance(__obj, types.BuiltinMethodType) and isinstance(owner, str):
            if method not in _STR_METHODS:
                raise TemplateTooCostly(f"str.{method} is not available in templates")
            __self._grows(method, owner, args)
        __self.depth += 1
        if __self.depth > __self.limits.depth:
            raise TemplateTooCostly(f"calls nest deeper than {__self.limits.depth}")
        try:
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            __self.depth -= 1
        return __self.fits(result)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        self._widths(value.__self__)

        @wraps(wrapped)
        def bounded(*args: Any, **kwargs: Any) -> str:
            for arg in (*args, *kwargs.values()):
                self.fits(arg, "an argument")
            return str(self.fits(wrapped(*args, **kwargs)))

        return bounded

    # --- checks before an operation that could grow a value ------------------------------------

    def _bounded_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            self.tick()
            values = [a for a in (*args, *kwargs.values()) if not _is_jinja_state(a, self)]
            for value in values:
                self.fits(value, "an argument")
            if values and isinstance(values[0], str):
                self._grows(name, values[0], tuple(values[1:]))
            return self.fits(func(*args, **kwargs))

        return bounded

    def _grows(self, name: str, text: str, args: tuple[Any, ...]) -> None:
        """Refuse before running a string operation whose result could pass the cap."""
        limit = self.limits.chars
        strings = [a for a in args if isinstance(a, str)]
        if name in {"center", "ljust", "rjust", "zfill", "truncate", "wordwrap", "indent"}:
            for arg in args:
                if isinstance(arg, int) and not isinstance(arg, bool) and arg > limit:
                    self._count(arg)
        if name == "replace" and len(strings) >= 2:
            old, new = strings[0], strings[1]
            hits = len(text) + 1 if not old else text.count(old)
            self._count(len(text) + hits * max(len(new) - len(old), 0))
        elif name in {"indent", "wordwrap"}:
            lines = text.count("\n") + 1 if name == "indent" else len(text) + 1
            self._count(len(text) + lines * sum(len(s) for s in strings))
        elif name == "format":
            self._printf(text)
        elif name == "join" and args and isinstance(args[0], list | tuple):
            self._count(_size(args[0], limit) + len(text) * len(args[0]))

    def _printf(self, fmt: str) -> None:
        if "*" in fmt:
            raise TemplateTooCostly("a format width must be a number, not *")
        self._widths(fmt)

    def _widths(self, fmt: str) -> None:
        for number in _NUMBER.findall(fmt):
            if len(number) > 6 or int(number) > self.limits.chars:
                raise TemplateTooCostly(f"a format width over {self.limits.chars:,}")


class _Bound(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "herald_loop", [], [], None, None)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "herald_concat", [], [], None, None, lineno=node.lineno)


def _bounded_namespace(env: BoundedEnvironment) -> type[Namespace]:
    class BoundedNamespace(Namespace):
        def __setitem__(self, name: str, value: Any) -> None:
            env.tick()
            super().__setitem__(name, env.fits(value))

    return BoundedNamespace


def _is_jinja_state(value: Any, env: BoundedEnvironment) -> bool:
    """Filters that take the environment or a context get it first; it is not a user value."""
    return value is env or isinstance(value, Context | EvalContext)


def _size(value: Any, limit: int) -> int:
    """Characters in a value, its items counted too; stops counting once past `limit`."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, Mapping):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
    return total


def parse(source: str) -> None:
    """Raises `TemplateSyntaxError` when the source does not read as Jinja."""
    BoundedEnvironment().parse(source)


def render(source: str, variables: Mapping[str, Any], limits: Limits = LIMITS) -> str:
    """The template rendered, or `TemplateTooCostly` / another `TemplateError`."""
    env = BoundedEnvironment(limits)
    try:
        template = env.from_string(source)
        out: list[str] = []
        total = 0
        for piece in template.generate(**variables):
            total += len(piece)
            if total > limits.chars:
                raise TemplateTooCostly(f"its output would exceed {limits.chars:,} characters")
            env.tick()
            out.append(piece)
    except RecursionError:
        raise TemplateTooCostly("it calls itself too deeply") from None
    except MemoryError:
        raise TemplateTooCostly("it needs too much memory") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # The template's own mistake (`{{ text + 1 }}`): a template error like any other.
        raise TemplateRuntimeError(f"{type(exc).__name__}: {exc}") from None
    return "".join(out)
