"""Liquid templating for subjects, bodies, webhook URLs/bodies and cancellation keys.

One configured environment renders every template the engine sends, so the rules are the
same everywhere:

- **Strict undefined.** A template that references a missing value fails (the step
  fails with "data.coupon is undefined") instead of silently sending "Hi ," to a
  customer. ``StrictDefaultUndefined`` is the strict flavour that still lets an author
  opt in to a fallback explicitly with ``{{ data.coupon | default: "none" }}``.
- **Resource limits.** Templates are written by marketers and rendered inside workers;
  a runaway loop or a huge output must fail one step, not exhaust a worker.
- **No partials.** ``include``/``render`` would read templates from a loader we do not
  configure; they are reported as problems at publish time rather than at send time.

Parsing is cached by source text: the sweep renders the same few templates for many
enrollments, and a parsed template renders any number of times.
"""

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import liquid
from liquid import BoundTemplate
from liquid.exceptions import LiquidError, LiquidSyntaxError, UndefinedError

from customers.errors import Unprocessable

#: Tags that need a template loader, which journeys do not have.
UNAVAILABLE_TAGS = frozenset({"include", "render"})


class JourneyLiquidEnvironment(liquid.Environment):
    """The one Liquid environment of the product: strict, bounded, no partials."""

    #: A ``for`` loop, or nested loops together, may run this many iterations.
    loop_iteration_limit = 10_000
    #: Characters a single render may write (a large e-mail body is well under this).
    output_stream_limit = 1_000_000
    #: How deeply render contexts may nest (``capture``, ``for``, ``tablerow``...).
    context_depth_limit = 30
    #: Bytes of ``assign``/``capture`` values a template may hold.
    local_namespace_limit = 1_000_000

    #: Strict, so a missing value fails loudly; see the module docstring.
    undefined = liquid.StrictDefaultUndefined

    def __init__(self) -> None:
        # ``liquid.Environment`` takes ``undefined`` as a constructor argument and stores
        # it on the instance, so the class attribute above has to be passed on here.
        super().__init__(undefined=type(self).undefined, strict_filters=True)


ENVIRONMENT = JourneyLiquidEnvironment()


class TemplateRenderError(Unprocessable):
    """A template failed to render: a missing variable, a bad filter, a limit reached.

    The message is the first line of Liquid's own message, which names the problem,
    e.g. ``data.coupon is undefined``; it is what a run's timeline shows.
    """


_QUOTED_UNDEFINED = re.compile(r"^'(?P<name>[^']+)' is undefined$")


def _liquid_message(error: LiquidError) -> str:
    """Liquid's message without its multi-line source excerpt, quotes normalised."""
    message = str(error.message if error.message is not None else error).strip()
    message = message.splitlines()[0] if message else type(error).__name__
    # Top-level names come out as "'coupon' is undefined" and paths as
    # "data.coupon is undefined"; say both the same way.
    match = _QUOTED_UNDEFINED.match(message)
    if match:
        message = f"{match['name']} is undefined"
    return message


def _with_position(error: LiquidError, message: str) -> str:
    context = error.context()
    if context is None:
        return message
    line, column = context[0], context[1]
    return f"{message} (line {line}, column {column + 1})"


@lru_cache(maxsize=2048)
def _parse(source: str) -> BoundTemplate:
    return ENVIRONMENT.from_string(source)


def template_render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source`` with ``context``; raise :class:`TemplateRenderError` on any failure.

    The context is the engine's business (``customer``, ``api``, ``data``, ...); this
    function only guarantees that a missing value is an error naming the variable.
    """
    try:
        template = _parse(source)
    except LiquidError as error:
        raise TemplateRenderError(
            f"template does not parse: {_with_position(error, _liquid_message(error))}"
        ) from error
    try:
        return template.render(context)
    except UndefinedError as error:
        message = _liquid_message(error)
        if not message.endswith(" is undefined"):  # e.g. "index out of range"
            raise TemplateRenderError(message) from error
        variable = message.removesuffix(" is undefined")
        raise TemplateRenderError(message, variable=variable) from error
    except LiquidError as error:
        raise TemplateRenderError(_liquid_message(error)) from error


def template_syntax_problem(source: str) -> str | None:
    """Why ``source`` cannot be used as a template, or ``None`` when it can.

    Beyond parse errors this reports what would only fail at send time otherwise: unknown
    filters (the environment is strict about filters) and tags that need partials.
    """
    try:
        template = _parse(source)
    except LiquidSyntaxError as error:
        return _with_position(error, _liquid_message(error))
    except LiquidError as error:
        return _liquid_message(error)
    analysis = template.analyze(include_partials=False)
    unknown_filters = sorted(set(analysis.filters) - set(ENVIRONMENT.filters))
    if unknown_filters:
        names = ", ".join(f"'{name}'" for name in unknown_filters)
        return (
            f"unknown filter {names}" if len(unknown_filters) == 1 else f"unknown filters {names}"
        )
    unavailable = sorted(set(analysis.tags) & UNAVAILABLE_TAGS)
    if unavailable:
        return f"the '{unavailable[0]}' tag is not available in journey templates"
    return None


def template_variable_paths(source: str) -> list[list[str]]:
    """The global variable paths ``source`` references, e.g. ``[["data", "coupon"]]``.

    Local names (``assign``, ``capture``, loop variables) are left out: only paths the
    render context must provide are returned. Index segments become strings
    (``data.items[0].sku`` is ``["data", "items", "0", "sku"]``); a path stops at a
    dynamic index such as ``data[key]``, whose own variable (``key``) is listed
    separately. The result is sorted and free of duplicates. A template that does not
    parse references nothing (see :func:`template_syntax_problem`).
    """
    try:
        template = _parse(source)
    except LiquidError:
        return []
    paths: set[tuple[str, ...]] = set()
    for segments in template.global_variable_segments(include_partials=False):
        path: list[str] = []
        for segment in segments:
            if isinstance(segment, str | int):
                path.append(str(segment))
            else:
                break
        if path:
            paths.add(tuple(path))
    return [list(path) for path in sorted(paths)]
