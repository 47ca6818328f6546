"""What keeps a render inside its limits, wherever a template spends memory or time.

python-liquid's own limits watch ``for`` loops, the output stream and the values a
template assigns. A template can also build values without any of those: a range
literal is a lazy Python ``range`` until a filter walks it, and filters build strings and
lists of any size before anything is written or assigned (``{{ (1..20000000) | join |
size }}`` used 2.5 GB and wrote eight characters). So a render of the product also:

- **counts what filters iterate like loops.** A range has as many items as its bounds
  say, and counts against the loop iteration limit when it is made, together with the
  loops around it, exactly as a ``for`` loop over it would; filters that go through a
  sequence (``join``, ``map``, ``sort``, ``uniq``...) and ``split``, which makes one,
  count their items the same way. Then no filter walks more than the limit's items.
- **bounds the size of every value a filter makes.** A string a filter returns is at most
  ``value_size_limit`` characters; the filters that can multiply their input (``join``
  with a long separator, ``replace`` of a short string by a long one, ``concat`` of a
  list with itself) are checked before they build anything, as are numbers (a number of
  more digits than Python prints is refused rather than squared again). A list's size
  is the text it prints as: a list holding one long string 8,000 times costs little
  memory, but printing it would not. ``concat`` is the one filter that repeats items
  (a list concatenated with itself); every other list a filter makes holds at most what
  its input held, so checking ``concat`` bounds what any list of a render prints as.
- **stops after ``render_time_limit`` seconds of CPU time**, checked every few loop
  iterations and filter calls: iterations and value sizes bound each step, this bounds
  their product.

Each limit raises a :class:`~liquid.exceptions.ResourceLimitError` whose message names
it, which the product reports as the step's error.
"""

import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from itertools import chain
from typing import Any

from liquid import BoundTemplate, RenderContext
from liquid.ast import Node
from liquid.builtin.expressions import LoopExpression
from liquid.builtin.expressions.primitive import IntegerLiteral, RangeLiteral
from liquid.builtin.tags.for_tag import ForLoop
from liquid.builtin.tags.tablerow_tag import TableRow
from liquid.exceptions import (
    FilterError,
    LiquidError,
    LoopIterationLimitError,
    ResourceLimitError,
)
from liquid.expression import Expression
from liquid.filter import with_context
from liquid.undefined import Undefined

#: The CPU time of the rendering thread; tests replace it to move time on.
cpu_clock: Callable[[], float] = time.thread_time
#: Loop iterations and filter calls between two looks at the clock, which costs a system
#: call: each is bounded in size, so a few dozen of them take milliseconds at the most.
TICKS_PER_CLOCK_READ = 32

#: The most digits a number may have: Python (by default) prints no longer integer.
MAX_NUMBER_DIGITS = 4300
_MAX_INT_BITS = int((MAX_NUMBER_DIGITS - 1) * math.log2(10))  # below 2**bits: few enough

_WORDS = re.compile(r"\S+")
_STRFTIME_GROWTH = 256  # time.strftime refuses to write more than this per format character

#: Filters that go through every item of their input, as a ``for`` loop would.
ITERATING_FILTERS = frozenset(
    {"compact", "concat", "find", "find_index", "has", "join", "map", "reject", "reverse",
     "sort", "sort_natural", "sum", "uniq", "where"}
)  # fmt: skip

#: Filters checked before they run: those that iterate, and those that can multiply.
_CHECKED_BEFORE = ITERATING_FILTERS | {"date", "replace", "split"}


class ValueSizeLimitError(ResourceLimitError):
    """A filter would make a string, list or number larger than a value may be."""


class RenderTimeLimitError(ResourceLimitError):
    """A render used more CPU time than a render may."""


class TemplateSizeLimitError(ResourceLimitError):
    """A template's source is longer than a template may be."""


def loop_count(context: RenderContext, items: int, what: str) -> None:
    """Count ``items`` iterations against the loop iteration limit, multiplied by the loops
    around them, as python-liquid counts a ``for`` loop of that length. ``what`` says
    whose items they are: "the range (1..9) has", "join goes through"."""
    try:
        context.raise_for_loop_limit(items)
    except LoopIterationLimitError:
        total = items * context.loop_iteration_carry
        for loop in context.loops:
            total *= loop.length
        inside = f", {total:,} with the loops around it" if total != items else ""
        raise LoopIterationLimitError(
            f"loop iteration limit reached: {what} {items:,} items{inside}, "
            f"over the limit of {context.env.loop_iteration_limit:,}",
            token=None,
        ) from None


def text_size(value: object, budget: int) -> int:
    """About how many characters ``value`` prints as, counted until ``budget`` is passed.

    A string counts its length, a list or mapping the sizes of its items: the length of
    what a filter converting it to a string (or the output statement) would build, within
    a small factor for quotes and separators. Shared items count each time they appear,
    because printing repeats them. The walk stops as soon as the count passes ``budget``,
    so it never costs more than building the text would.
    """
    size = 0
    pending: list[Iterator[object]] = [iter((value,))]
    while pending:
        for item in pending[-1]:
            nested: Iterator[object] | None = None
            if isinstance(item, str):
                size += len(item) + 4
            elif isinstance(item, Mapping):
                size += 2
                nested = chain.from_iterable(item.items())
            elif isinstance(item, list | tuple):
                size += 2
                nested = iter(item)
            elif isinstance(item, int):
                size += item.bit_length() // 3 + 2
            else:
                size += 24
            if size > budget:
                return size
            if nested is not None:
                pending.append(nested)
                break
        else:
            pending.pop()
    return size


def _items(value: object) -> int:
    """How many items a sequence filter goes through for ``value``."""
    if isinstance(value, list | tuple | range):
        return len(value)
    return 0 if isinstance(value, Undefined) else 1


def _too_big(name: str, size: int, limit: int, what: str = "a string of") -> ValueSizeLimitError:
    return ValueSizeLimitError(
        f"value size limit reached: {name} would make {what} {size:,} characters, "
        f"over the limit of {limit:,}",
        token=None,
    )


def _split_count(text: str, separator: object) -> int:
    if isinstance(separator, Undefined) or separator in (None, ""):
        return len(text)
    if separator == " ":  # split on runs of whitespace
        return sum(1 for _ in _WORDS.finditer(text))
    return text.count(str(separator)) + 1


def _check_before(
    context: RenderContext, name: str, left: object, args: tuple[object, ...]
) -> None:
    """Refuse a filter call whose result would be too large, before it is built."""
    limit = context.env.value_size_limit
    if name in ITERATING_FILTERS:
        items = _items(left) + (_items(args[0]) if name == "concat" and args else 0)
        loop_count(context, items, f"{name} goes through")
    if name == "concat" and args:
        size = text_size(left, limit) + text_size(args[0], limit)
        if size > limit:
            raise _too_big(name, size, limit, "a list of")
    elif name == "join" and isinstance(left, list | tuple | range):
        separator = str(args[0]) if args else " "
        size = len(separator) * max(len(left) - 1, 0) + text_size(left, limit)
        if size > limit:
            raise _too_big(name, size, limit)
    elif name == "replace" and args and left is not None:
        text = left if isinstance(left, str) else str(left)
        old = str(args[0])
        new = str(args[1]) if len(args) > 1 and args[1] is not None else ""
        size = len(text) + text.count(old) * (len(new) - len(old))
        if size > limit:
            raise _too_big(name, size, limit)
    elif name == "date" and args and isinstance(args[0], str):
        # A format's directives can be padded to any width ("%1000Y"); Python gives up on
        # a date longer than 256 times its format, so a short format is enough.
        size = len(args[0]) * _STRFTIME_GROWTH
        if size > limit:
            raise _too_big(name, size, limit, "a string of up to")
    elif name == "split" and args and isinstance(left, str):
        loop_count(context, _split_count(left, args[0]), "split makes")


def _check_after(name: str, result: object, limit: int) -> object:
    """Refuse a filter's result that is larger than a value may be."""
    too_many_digits = False
    if isinstance(result, str):
        if len(result) > limit:
            raise _too_big(name, len(result), limit)
    elif isinstance(result, int) and not isinstance(result, bool):
        too_many_digits = result.bit_length() > _MAX_INT_BITS
    elif isinstance(result, Decimal) and result.is_finite():
        too_many_digits = result.adjusted() >= MAX_NUMBER_DIGITS
    if too_many_digits:
        raise ValueSizeLimitError(
            f"value size limit reached: {name} would make a number of more than "
            f"{MAX_NUMBER_DIGITS:,} digits",
            token=None,
        )
    return result


def bounded_filter(name: str, func: Callable[..., object]) -> Callable[..., object]:
    """``func``, registered as filter ``name``, held to the limits of the render calling it.

    The wrapper asks python-liquid for the render context (``with_context``) and hands
    ``func`` the context or environment it asked for in turn.
    """
    checked_before = name in _CHECKED_BEFORE
    wants_context = getattr(func, "with_context", False)
    wants_environment = getattr(func, "with_environment", False)

    @with_context
    def bounded(
        left: object, *args: object, context: "BoundedRenderContext", **kwargs: Any
    ) -> object:
        context.tick()
        if checked_before:
            _check_before(context, name, left, args)
        if wants_context:
            kwargs["context"] = context
        if wants_environment:
            kwargs["environment"] = context.env
        try:
            result = func(left, *args, **kwargs)
        except LiquidError:
            raise
        except (ArithmeticError, ValueError) as error:
            # Numbers Python cannot hold (a float's infinity floored): the template's
            # problem, reported like any other filter error.
            raise FilterError(f"{name}: {error}", token=None) from error
        return _check_after(name, result, context.env.value_size_limit)

    return bounded


class BoundedRenderContext(RenderContext):
    """A render context that keeps the render's time, for its loops, ranges and filters."""

    __slots__ = ("deadline", "ticks")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parent = self.parent_context
        self.deadline: float = (
            parent.deadline
            if isinstance(parent, BoundedRenderContext)
            else cpu_clock() + self.env.render_time_limit
        )
        self.ticks = 0

    def tick(self) -> None:
        """Count a step of the render; raise once the render has used its CPU time."""
        self.ticks += 1
        if self.ticks % TICKS_PER_CLOCK_READ == 0 and cpu_clock() > self.deadline:
            raise RenderTimeLimitError(
                "render time limit reached: a render may use "
                f"{self.env.render_time_limit:g} seconds of CPU time",
                token=None,
            )

    @contextmanager
    def loop(self, namespace: Mapping[str, object], forloop: ForLoop | TableRow) -> Iterator[Any]:
        # The tag iterates ``forloop``, which takes its items from ``it``: this is where
        # the clock is read between iterations, whatever the loop's body holds.
        forloop.it = self._ticking(forloop.it)
        with super().loop(namespace, forloop) as context:
            yield context

    def _ticking(self, items: Iterator[object]) -> Iterator[object]:
        for item in items:
            self.tick()
            yield item


class CountedRange(RangeLiteral):
    """A range literal that counts its items against the loop iteration limit."""

    __slots__ = ()

    def evaluate(self, context: RenderContext) -> range:
        try:
            result = super().evaluate(context)
        except OverflowError:  # a bound of infinity
            raise LoopIterationLimitError(
                f"loop iteration limit reached: the range {self} has no end", token=self.token
            ) from None
        if isinstance(context, BoundedRenderContext):
            context.tick()
        loop_count(context, len(result), f"the range {self} has")
        return result


def _expressions(expression: Expression) -> Iterator[Expression]:
    pending = [expression]
    while pending:
        current = pending.pop()
        yield current
        pending.extend(current.children())


def template_nodes(template: BoundTemplate) -> Iterator[tuple[Node, int]]:
    """Every node of ``template`` with the product of the constant ranges its enclosing
    ``for`` and ``tablerow`` loops go over (1 outside such loops): what a range there
    is multiplied by when it is counted."""
    static_context = RenderContext(template)
    pending: list[tuple[Node, int]] = [(node, 1) for node in reversed(template.nodes)]
    while pending:
        node, loops = pending.pop()
        yield node, loops
        block_loops = loops
        for expression in node.expressions():
            sliced = isinstance(expression, LoopExpression) and (
                expression.limit or expression.offset
            )
            if isinstance(expression, LoopExpression) and not sliced:
                block_loops = loops * (constant_range_length(expression.iterable) or 1)
        block = getattr(node, "block", None)
        children = node.children(static_context, include_partials=False)
        pending.extend(
            (child, block_loops if child is block else loops) for child in reversed(list(children))
        )


def template_ranges(template: BoundTemplate) -> Iterator[tuple[RangeLiteral, int]]:
    """Every range literal of ``template``, with its enclosing constant loops' product."""
    for node, loops in template_nodes(template):
        for expression in node.expressions():
            for found in _expressions(expression):
                if isinstance(found, RangeLiteral):
                    yield found, loops


def constant_range_length(expression: Expression) -> int | None:
    """The number of items of a range literal with constant bounds, else ``None``."""
    if not (
        isinstance(expression, RangeLiteral)
        and isinstance(expression.start, IntegerLiteral)
        and isinstance(expression.stop, IntegerLiteral)
    ):
        return None
    return max(expression.stop.value - expression.start.value + 1, 0)


class BoundedTemplate(BoundTemplate):
    """A parsed template whose ranges count their items and whose renders stay bounded."""

    context_class = BoundedRenderContext

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for found, _ in template_ranges(self):
            # Same slots, one method more: the parsed range counts itself when evaluated.
            found.__class__ = CountedRange
