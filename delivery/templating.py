"""Liquid templating for subjects, bodies, webhook URLs/bodies and cancellation keys.

One configured environment renders every template the engine sends, so the rules are the
same everywhere:

- **Strict undefined.** A template that references a missing value fails (the step
  fails with "data.coupon is undefined") instead of silently sending "Hi ," to a
  customer. ``StrictDefaultUndefined`` is the strict flavour that still lets an author
  opt in to a fallback explicitly with ``{{ data.coupon | default: "none" }}``.
- **Resource limits.** Templates are written by marketers and rendered inside workers;
  a runaway loop, a huge output or a range walked by a filter must fail one step, not
  exhaust a worker. Loop iterations, output, assigned values, the size of every value a
  filter makes, CPU time and the template's own length are bounded
  (:mod:`delivery.template_limits` holds the checks python-liquid does not make itself),
  so a render's memory stays within tens of megabytes whatever the template says.
- **No partials.** ``include``/``render`` would read templates from a loader we do not
  configure; they are reported as problems at publish time rather than at send time.

Parsing is cached by source text: the sweep renders the same few templates for many
enrollments, and a parsed template renders any number of times. The cache is bounded by
the length of the sources it holds, since a parsed template takes memory in proportion
to its source.
"""

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import liquid
from liquid import BoundTemplate
from liquid.exceptions import (
    LiquidError,
    LiquidSyntaxError,
    LoopIterationLimitError,
    ResourceLimitError,
    UndefinedError,
)

from customers.errors import Unprocessable
from delivery import template_limits
from delivery.template_limits import (
    BoundedTemplate,
    TemplateSizeLimitError,
    bounded_filter,
    constant_range_length,
    template_ranges,
)

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
    #: Characters of any one value a filter makes (a list counts the text it prints as).
    value_size_limit = 1_000_000
    #: Seconds of CPU time a render may use (a large e-mail takes milliseconds).
    render_time_limit = 2.0
    #: Characters of a template's source. Parsing takes time and memory in proportion
    #: (up to 0.8 s and 35 MB for 100,000 characters of dense Liquid); an HTML e-mail
    #: stays under this anyway, as Gmail clips messages over 102 kB.
    template_size_limit = 100_000

    #: Strict, so a missing value fails loudly; see the module docstring.
    undefined = liquid.StrictDefaultUndefined
    #: Templates whose ranges count their items and whose renders stay bounded.
    template_class = BoundedTemplate

    def __init__(self) -> None:
        # ``liquid.Environment`` takes ``undefined`` as a constructor argument and stores
        # it on the instance, so the class attribute above has to be passed on here.
        super().__init__(undefined=type(self).undefined, strict_filters=True)
        self.filters = {name: bounded_filter(name, func) for name, func in self.filters.items()}


class HtmlLiquidEnvironment(JourneyLiquidEnvironment):
    """The same environment for HTML e-mail bodies, with every value HTML-escaped: a
    customer named ``<script>`` shows as text, never as markup."""

    def __init__(self) -> None:
        super().__init__()
        self.autoescape = True


ENVIRONMENT = JourneyLiquidEnvironment()
HTML_ENVIRONMENT = HtmlLiquidEnvironment()


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


class _ParsedTemplates:
    """Parsed templates by source, the least recently used dropped first once their
    sources add up to more than ``max_chars`` characters."""

    def __init__(self, environment: JourneyLiquidEnvironment, max_chars: int) -> None:
        self.environment = environment
        self.max_chars = max_chars
        self._templates: OrderedDict[str, BoundTemplate] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, source: str) -> BoundTemplate:
        with self._lock:
            template = self._templates.get(source)
            if template is not None:
                self._templates.move_to_end(source)
                return template
        template = self.environment.from_string(source)
        with self._lock:
            if source not in self._templates:
                self._templates[source] = template
                self._chars += len(source)
            while self._chars > self.max_chars:
                dropped, _ = self._templates.popitem(last=False)
                self._chars -= len(dropped)
        return template


#: Five of the largest templates (under 10 MB each once parsed), or hundreds of ordinary
#: ones.
_PARSED = _ParsedTemplates(ENVIRONMENT, max_chars=5 * ENVIRONMENT.template_size_limit)
_PARSED_HTML = _ParsedTemplates(HTML_ENVIRONMENT, max_chars=5 * ENVIRONMENT.template_size_limit)


def _parse(source: str, *, html: bool = False) -> BoundTemplate:
    limit = ENVIRONMENT.template_size_limit
    if len(source) > limit:
        raise TemplateSizeLimitError(
            f"template size limit reached: the template has {len(source):,} characters, "
            f"over the limit of {limit:,}",
            token=None,
        )
    return (_PARSED_HTML if html else _PARSED).get(source)


def template_render(source: str, context: Mapping[str, Any], *, html: bool = False) -> str:
    """Render ``source`` with ``context``; raise :class:`TemplateRenderError` on any failure.

    The context is the engine's business (``customer``, ``api``, ``data``, ...); this
    function only guarantees that a missing value is an error naming the variable. With
    ``html``, every value is HTML-escaped (an HTML e-mail body).
    """
    return template_compile(source, html=html).render(context)


class CompiledTemplate:
    """A template parsed once, for a caller that keeps it and renders it many times (the
    cancellation key a journey version renders at every entry); renders as
    :func:`template_render` does."""

    def __init__(self, template: BoundTemplate) -> None:
        self._template = template

    def render(self, context: Mapping[str, Any]) -> str:
        try:
            return self._template.render(context)
        except UndefinedError as error:
            message = _liquid_message(error)
            if not message.endswith(" is undefined"):  # e.g. "index out of range"
                raise TemplateRenderError(message) from error
            variable = message.removesuffix(" is undefined")
            raise TemplateRenderError(message, variable=variable) from error
        except LiquidError as error:
            raise TemplateRenderError(_liquid_message(error)) from error


def template_compile(source: str, *, html: bool = False) -> CompiledTemplate:
    """``source`` parsed; raise :class:`TemplateRenderError` if it cannot be."""
    try:
        template = _parse(source, html=html)
    except ResourceLimitError as error:  # too long, or blocks nested too deeply
        raise TemplateRenderError(_with_position(error, _liquid_message(error))) from error
    except LiquidError as error:
        raise TemplateRenderError(
            f"template does not parse: {_with_position(error, _liquid_message(error))}"
        ) from error
    return CompiledTemplate(template)


class RenderBudget:
    """The output and time limits, shared by the templates one step renders together.

    A JSON body renders each of its strings as a template, a webhook each header: every
    render is bounded by the output and time limits, and so is their sum, or a body of
    many strings could add up to any size and take any time. (A render in progress when
    the time is up finishes within its own limit, so a step takes at most twice it.)
    """

    def __init__(self) -> None:
        self.left = ENVIRONMENT.output_stream_limit
        self.deadline = template_limits.cpu_clock() + ENVIRONMENT.render_time_limit

    def render(self, source: str, context: Mapping[str, Any], *, html: bool = False) -> str:
        """:func:`template_render`, counting what it writes and takes against the budget."""
        text = template_render(source, context, html=html)
        self.left -= len(text)
        if self.left < 0:
            raise TemplateRenderError(
                "output stream limit reached: the step's templates together write more "
                f"than {ENVIRONMENT.output_stream_limit:,} characters"
            )
        if template_limits.cpu_clock() > self.deadline:
            raise TemplateRenderError(
                "render time limit reached: the step's templates together may use "
                f"{ENVIRONMENT.render_time_limit:g} seconds of CPU time"
            )
        return text


def template_limit_problem(source: str) -> str | None:
    """What in ``source`` is certain to exceed a limit at every render, or ``None``.

    That is a source longer than a template may be, or a range with constant bounds that
    has more items than a template may loop over (``{{ (1..20000000) | join }}``),
    counting the constant ranges of the loops around it as a render does. A template that
    does not parse has no such problem (:func:`template_syntax_problem` reports it).
    """
    try:
        template = _parse(source)
    except TemplateSizeLimitError as error:
        return _liquid_message(error)
    except LiquidError:
        return None
    limit = ENVIRONMENT.loop_iteration_limit
    for found, loops in template_ranges(template):
        items = constant_range_length(found)
        if items is None or items * loops <= limit:
            continue
        inside = f", {items * loops:,} with the loops around it" if loops > 1 else ""
        message = (
            f"the range {found} has {items:,} items{inside}, over the loop iteration limit "
            f"of {limit:,}"
        )
        return _with_position(LoopIterationLimitError(message, token=found.token), message)
    return None


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


#: A variable's path as written, from its first character, then a ``default`` filter
#: applied to it: ``data.plan | default: "free"``, ``data["plan"]|default:1``.
_PATH_THEN_DEFAULT = re.compile(
    r"""[\w-]+(?:\s*\.\s*[\w-]+|\s*\[\s*(?:"[^"]*"|'[^']*'|[\w.-]+)\s*\])*"""
    r"\s*\|\s*default\b"
)


def template_defaulted_paths(source: str) -> set[tuple[str, ...]]:
    """The global variable paths of ``source`` that are given a fallback (the
    ``default`` filter) wherever they appear: a render never fails for their absence.

    Paths as :func:`template_variable_paths` gives them. Each appearance is found by
    the position the parser reports and read from the source from there.
    """
    try:
        template = _parse(source)
    except LiquidError:
        return set()
    defaulted: dict[tuple[str, ...], bool] = {}
    for variables in template.analyze(include_partials=False).globals.values():
        for variable in variables:
            path = _literal_prefix(variable.segments)
            if not path:
                continue
            guarded = _PATH_THEN_DEFAULT.match(source, variable.span.index) is not None
            defaulted[path] = defaulted.get(path, True) and guarded
    return {path for path, guarded in defaulted.items() if guarded}


def _literal_prefix(segments: Any) -> tuple[str, ...]:
    """A path's segments up to its first dynamic index, as strings."""
    path: list[str] = []
    for segment in segments:
        if not isinstance(segment, str | int):
            break
        path.append(str(segment))
    return tuple(path)


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
    paths = {
        _literal_prefix(segments)
        for segments in template.global_variable_segments(include_partials=False)
    }
    return [list(path) for path in sorted(paths) if path]
