"""The condition language: validation messages, evaluator semantics, and the SQL compiler.

Compile tests run on PostgreSQL and on an in-memory SQLite database (the ``store`` fixture),
so every documented rule is checked on both back ends as well as in Python.
"""

import math
import re

import pytest
from django.db.models import Q

from customers.models import Customer
from segments.conditions import (
    MAX_DEPTH,
    MAX_NODES,
    ConditionError,
    condition_evaluate,
    condition_problems,
    condition_to_q,
    customer_condition_context,
)


def leaf(field, op, *value):
    """A leaf condition; ``value`` is left out when not given (exists / not_exists)."""
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}


MISSING = object()


def holds(op, actual, *value):
    """Evaluate ``customer.x <op> value`` with ``x`` set to ``actual`` (or left out)."""
    customer = {} if actual is MISSING else {"x": actual}
    return condition_evaluate(leaf("customer.x", op, *value), {"customer": customer})


# --- Validation -------------------------------------------------------------------------------


def test_valid_conditions_have_no_problems():
    condition = {
        "all": [
            leaf("customer.plan", "eq", "vip"),
            {"any": [leaf("customer.age", "gte", 18), leaf("api.payload.total", "lt", 9.5)]},
            {"not": leaf("customer.tags", "contains", "churned")},
            leaf("customer.email", "exists"),
            leaf("customer.country", "in", ["FR", "DE"]),
        ]
    }

    assert condition_problems(condition) == []


def test_unknown_operator_is_named_with_its_path_and_the_known_operators():
    condition = {"all": [leaf("customer.a", "eq", 1), leaf("customer.plan", "equals", "vip")]}

    assert condition_problems(condition) == [
        "conditions.all[1].op: unknown operator 'equals'; expected one of eq, ne, gt, gte, "
        "lt, lte, contains, not_contains, starts_with, in, not_in, exists, not_exists"
    ]


def test_every_problem_is_reported_not_just_the_first():
    condition = {
        "any": [
            {"field": "", "op": "eq", "value": 1},
            {"field": "customer.a", "op": "in", "value": "vip"},
            {"not": []},
        ]
    }

    assert condition_problems(condition) == [
        "conditions.any[0].field: expected a non-empty string; got string ''",
        "conditions.any[1].value: 'in' needs a list of strings, numbers or booleans",
        "conditions.any[2].not: expected an object with 'all', 'any', 'not' or 'field'; got a list",
    ]


def test_the_path_prefix_is_the_callers():
    assert condition_problems({"any": []}, path="steps[2].condition") == [
        "steps[2].condition.any: expected a non-empty list of conditions"
    ]


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("vip", "conditions: expected an object with 'all', 'any', 'not' or 'field'; got string"),
        ({}, "conditions: empty; expected an object with 'all', 'any', 'not' or 'field'"),
        ({"op": "exists"}, "conditions.field: required, a dotted path such as 'customer.plan'"),
        ({"all": []}, "conditions.all: expected a non-empty list of conditions"),
        ({"any": {"field": "a"}}, "conditions.any: expected a non-empty list of conditions"),
        (
            {"all": [leaf("a", "exists")], "not": leaf("a", "exists")},
            "conditions: a group has exactly one key ('all', 'any' or 'not'); also got 'not'",
        ),
        (
            {**leaf("a", "eq", 1), "values": [1]},
            "conditions: unknown key(s) 'values'; a condition is 'all', 'any', 'not' or a leaf",
        ),
        (leaf(7, "exists"), "conditions.field: expected a non-empty string; got number 7"),
        (leaf("customer..plan", "exists"), "conditions.field: 'customer..plan' has an empty"),
        (leaf("customer.", "exists"), "conditions.field: 'customer.' has an empty segment"),
        ({"field": "a"}, "conditions.op: required; expected one of eq, ne"),
        (leaf("a", ["eq"], 1), "conditions.op: unknown operator a list; expected one of"),
        (leaf("a", "eq"), "conditions.value: required by 'eq'"),
        (
            leaf("a", "eq", None),
            "conditions.value: 'eq' needs a string, number or boolean; got null; "
            "use exists/not_exists to test for missing or null",
        ),
        (leaf("a", "ne", [1]), "conditions.value: 'ne' needs a string, number or boolean; got a"),
        (leaf("a", "contains", {}), "conditions.value: 'contains' needs a string, number or"),
        (leaf("a", "gt", True), "conditions.value: 'gt' needs a number or a string; got boolean"),
        (leaf("a", "lte", math.nan), "conditions.value: 'lte' needs a number or a string; got"),
        (leaf("a", "gte", math.inf), "conditions.value: 'gte' needs a number or a string; got"),
        (leaf("a", "starts_with", 1), "conditions.value: 'starts_with' needs a string; got number"),
        (leaf("a", "not_in", [1, None]), "conditions.value[1]: expected a string, number or bool"),
        (leaf("a", "in", [[1]]), "conditions.value[0]: expected a string, number or boolean; got"),
        (leaf("a", "exists", 1), "conditions.value: 'exists' takes no value"),
        (leaf("a", "not_exists", "x"), "conditions.value: 'not_exists' takes no value"),
    ],
)
def test_invalid_conditions_are_explained(condition, problem):
    problems = condition_problems(condition)

    assert len(problems) == 1
    assert problems[0].startswith(problem)


def test_exists_tolerates_an_explicit_null_value():
    assert condition_problems({"field": "a", "op": "exists", "value": None}) == []


def test_in_accepts_an_empty_list():
    assert condition_problems(leaf("a", "in", [])) == []


def test_nesting_deeper_than_the_limit_is_rejected():
    condition = leaf("customer.a", "exists")
    for _ in range(MAX_DEPTH - 1):
        condition = {"not": condition}
    assert condition_problems(condition) == []

    problems = condition_problems({"not": condition})

    assert problems == [
        "conditions" + ".not" * MAX_DEPTH + f": nested deeper than {MAX_DEPTH} levels"
    ]


def test_conditions_larger_than_the_limit_are_rejected():
    condition = {"any": [leaf("customer.a", "in", list(range(MAX_NODES)))]}

    assert condition_problems(condition) == [
        f"conditions: too large ({MAX_NODES + 2} nodes); at most {MAX_NODES} are allowed"
    ]


def test_evaluating_or_compiling_an_invalid_condition_raises_with_the_problems():
    condition = leaf("customer.plan", "equals", "vip")

    with pytest.raises(
        ConditionError, match=re.escape("conditions.op: unknown operator 'equals'")
    ) as raised:
        condition_evaluate(condition, {})
    assert raised.value.problems == condition_problems(condition)
    with pytest.raises(ValueError, match="unknown operator"):
        condition_to_q(condition)


# --- Evaluator semantics ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "actual", "value", "expected"),
    [
        # eq: same kind and equal; numbers numerically; never across kinds.
        ("eq", "vip", "vip", True),
        ("eq", "VIP", "vip", False),
        ("eq", "é", "e\u0301", False),
        ("eq", 1, 1.0, True),
        ("eq", 0.1, 0.1, True),
        ("eq", 2**53 + 1, float(2**53), False),
        ("eq", -0.0, 0, True),
        ("eq", 1, "1", False),
        ("eq", "1", 1, False),
        ("eq", True, 1, False),
        ("eq", 1, True, False),
        ("eq", True, True, True),
        ("eq", False, False, True),
        ("eq", ["vip"], "vip", False),
        ("eq", {"a": 1}, "vip", False),
        ("eq", None, "vip", False),
        ("eq", MISSING, "vip", False),
        ("eq", math.nan, 1, False),
        # ne is exactly "not eq": absent values and other kinds are ne.
        ("ne", "vip", "vip", False),
        ("ne", "free", "vip", True),
        ("ne", None, "vip", True),
        ("ne", MISSING, "vip", True),
        ("ne", 1, "1", True),
        ("ne", 1, 1.0, False),
        # order: numbers with numbers, strings with strings (code points), else false.
        ("gt", 2, 1, True),
        ("gt", 1, 1, False),
        ("gte", 1, 1.0, True),
        ("lt", 0.1, 0.30000000000000004, True),
        ("lte", 10**20, 1e20, True),
        ("gt", 10**20 + 1, 1e20, True),
        ("gt", "b", "a", True),
        ("gt", "a", "B", True),
        ("lt", "Z", "a", True),
        ("lt", "é", "z", False),
        ("gt", "10", 9, False),
        ("lt", 9, "10", False),
        ("gt", True, 0, False),
        ("gte", None, 0, False),
        ("lte", MISSING, 0, False),
        ("gt", [5], 1, False),
        # contains: substring, or a top-level array element equal to the value.
        ("contains", "Very Important", "Important", True),
        ("contains", "Very Important", "important", False),
        ("contains", "anything", "", True),
        ("contains", "", "", True),
        ("contains", "12345", 3, False),
        ("contains", ["a", "b"], "b", True),
        ("contains", ["ab"], "b", False),
        ("contains", [1.0, 2], 1, True),
        ("contains", [1], True, False),
        ("contains", [True], True, True),
        ("contains", [["b"]], "b", False),
        ("contains", [{"b": 1}], "b", False),
        ("contains", {"b": 1}, "b", False),
        ("contains", MISSING, "b", False),
        ("not_contains", MISSING, "b", True),
        ("not_contains", None, "b", True),
        ("not_contains", 5, "b", True),
        ("not_contains", ["a", "b"], "b", False),
        ("not_contains", "abc", "b", False),
        # starts_with: strings only, case-sensitive.
        ("starts_with", "vip-gold", "vip", True),
        ("starts_with", "VIP-gold", "vip", False),
        ("starts_with", "vip", "", True),
        ("starts_with", ["vip"], "vip", False),
        ("starts_with", MISSING, "", False),
        # in: scalar membership with eq's rules.
        ("in", "FR", ["FR", "DE"], True),
        ("in", "fr", ["FR", "DE"], False),
        ("in", 2.0, [1, 2], True),
        ("in", True, [1], False),
        ("in", "x", [], False),
        ("in", ["FR"], ["FR"], False),
        ("in", None, ["FR"], False),
        ("not_in", None, ["FR"], True),
        ("not_in", "FR", ["FR"], False),
        ("not_in", "x", [], True),
    ],
)
def test_operator_semantics(op, actual, value, expected):
    assert holds(op, actual, value) is expected


@pytest.mark.parametrize(
    ("actual", "expected"),
    [(MISSING, False), (None, False), ("", True), (0, True), (False, True), ([], True), ({}, True)],
)
def test_exists_means_present_and_not_null(actual, expected):
    assert holds("exists", actual) is expected
    assert holds("not_exists", actual) is (not expected)


def test_paths_walk_objects_only_never_arrays():
    context = {"customer": {"address": {"city": "Paris"}, "tags": ["a", "b"], "plan": "vip"}}

    assert condition_evaluate(leaf("customer.address.city", "eq", "Paris"), context)
    assert not condition_evaluate(leaf("customer.tags.0", "exists"), context)
    assert not condition_evaluate(leaf("customer.plan.length", "exists"), context)
    assert not condition_evaluate(leaf("nothing.here", "exists"), context)


def test_groups_combine_their_children():
    context = {"customer": {"plan": "vip", "age": 36}, "api": {"payload": {"total": 120}}}
    vip, adult, big = (
        leaf("customer.plan", "eq", "vip"),
        leaf("customer.age", "gte", 18),
        leaf("api.payload.total", "gt", 500),
    )

    assert condition_evaluate({"all": [vip, adult]}, context)
    assert not condition_evaluate({"all": [vip, big]}, context)
    assert condition_evaluate({"any": [big, vip]}, context)
    assert not condition_evaluate({"any": [big]}, context)
    assert condition_evaluate({"not": big}, context)


def test_customer_context_overlays_columns_and_id_on_attributes(ada):
    ada.attributes = {**ada.attributes, "email": "spoof@example.com", "id": "x", "status": "vip"}

    context = customer_condition_context(ada)

    assert context["email"] == "ada@example.com"
    assert context["id"] == ada.public_id
    assert context["status"] == "active"
    assert context["anonymous_id"] is None
    assert context["timezone"] == ""
    assert context["plan"] == "vip"
    assert context["age"] == 36


# --- Compiling to SQL, on PostgreSQL and SQLite -----------------------------------------------


def people(store, *specs):
    """Store customers from (name, attributes[, columns]) and return them by name."""
    customers = {}
    for name, attributes, *columns in specs:
        customers[name] = Customer(
            external_id=name, attributes=attributes, **(columns[0] if columns else {})
        )
    store.add(list(customers.values()))
    return customers


def selected(store, customers, condition, constants=None):
    """The names of the stored customers the compiled condition selects."""
    ids = store.select(condition_to_q(condition, constants=constants))
    return {name for name, customer in customers.items() if customer.public_id in ids}


def evaluated(customers, condition, constants=None):
    """The names the Python evaluator selects, for comparison."""
    return {
        name
        for name, customer in customers.items()
        if condition_evaluate(
            condition, {**(constants or {}), "customer": customer_condition_context(customer)}
        )
    }


EVERYONE = frozenset({"int", "float", "text", "bool", "null", "absent", "list", "unicode"})


@pytest.fixture
def cast(store):
    return people(
        store,
        ("int", {"v": 1, "plan": "vip", "tags": ["a", "b"], "address": {"city": "Paris"}}),
        ("float", {"v": 1.0, "plan": "VIP", "tags": [1, True]}, {"email": "f@x.io"}),
        ("text", {"v": "1", "plan": "vip-gold", "tags": "a,b"}, {"timezone": "UTC"}),
        ("bool", {"v": True, "plan": None, "tags": [["a"]]}, {"status": "inactive"}),
        ("null", {"v": None, "address": {"city": None}}),
        ("absent", {}, {"anonymous_id": "anon-1"}),
        ("list", {"v": [1], "plan": ["vip"], "address": "Paris"}),
        ("unicode", {"v": "é", "plan": "日本", "tags": ["é", "😀"], "é": {"ß": 2}}),
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (leaf("customer.v", "eq", 1), {"int", "float"}),
        (leaf("customer.v", "eq", "1"), {"text"}),
        (leaf("customer.v", "eq", True), {"bool"}),
        (leaf("customer.v", "ne", 1), {"text", "bool", "null", "absent", "list", "unicode"}),
        (leaf("customer.v", "gte", 1), {"int", "float"}),
        (leaf("customer.v", "gt", "0"), {"text", "unicode"}),
        (leaf("customer.v", "lt", "é"), {"text"}),
        (leaf("customer.v", "exists"), {"int", "float", "text", "bool", "list", "unicode"}),
        (leaf("customer.v", "not_exists"), {"null", "absent"}),
        (leaf("customer.v", "in", [1, "é"]), {"int", "float", "unicode"}),
        (leaf("customer.v", "not_in", [1, True]), {"text", "null", "absent", "list", "unicode"}),
        (leaf("customer.plan", "starts_with", "vip"), {"int", "text"}),
        (leaf("customer.plan", "contains", "ip"), {"int", "text"}),
        (leaf("customer.plan", "contains", "IP"), {"float"}),
        (leaf("customer.tags", "contains", "a"), {"int", "text"}),
        (leaf("customer.tags", "contains", 1), {"float"}),
        (leaf("customer.tags", "contains", True), {"float"}),
        (leaf("customer.tags", "contains", "😀"), {"unicode"}),
        (
            leaf("customer.tags", "not_contains", "a"),
            {"float", "bool", "null", "absent", "list", "unicode"},
        ),
        (leaf("customer.address.city", "eq", "Paris"), {"int"}),
        (leaf("customer.address.city", "exists"), {"int"}),
        (leaf("customer.tags.0", "exists"), set()),
        (leaf("customer.é.ß", "eq", 2.0), {"unicode"}),
        (leaf("customer.email", "eq", "f@x.io"), {"float"}),
        (
            leaf("customer.email", "ne", "f@x.io"),
            {"int", "text", "bool", "null", "absent", "list", "unicode"},
        ),
        (leaf("customer.email", "exists"), {"float"}),
        (leaf("customer.timezone", "exists"), EVERYONE),
        (leaf("customer.timezone", "eq", ""), EVERYONE - {"text"}),
        (leaf("customer.timezone", "gt", "T"), {"text"}),
        (leaf("customer.status", "starts_with", "in"), {"bool"}),
        (leaf("customer.status", "contains", "ctiv"), EVERYONE),
        (leaf("customer.anonymous_id", "in", ["anon-1", 1]), {"absent"}),
        (leaf("customer.anonymous_id", "not_in", ["anon-1"]), EVERYONE - {"absent"}),
        (leaf("customer.external_id", "lt", "float"), {"bool", "absent"}),
        (leaf("customer.external_id", "eq", 1), set()),
        (leaf("customer.email.domain", "not_exists"), EVERYONE),
        (leaf("customer", "exists"), EVERYONE),
        (
            {"all": [leaf("customer.v", "exists"), {"not": leaf("customer.v", "eq", 1)}]},
            {"text", "bool", "list", "unicode"},
        ),
        (
            {"any": [leaf("customer.email", "exists"), leaf("customer.plan", "eq", "vip")]},
            {"int", "float"},
        ),
        ({"not": {"not": leaf("customer.plan", "eq", "vip")}}, {"int"}),
    ],
)
def test_compiled_conditions_select_what_the_evaluator_selects(store, cast, condition, expected):
    assert evaluated(cast, condition) == expected
    assert selected(store, cast, condition) == expected


def test_customer_id_is_the_public_id(store, cast):
    condition = leaf("customer.id", "in", [cast["int"].public_id, cast["text"].public_id])

    assert selected(store, cast, condition) == {"int", "text"}


def test_columns_win_over_attributes_of_the_same_name(store):
    customers = people(store, ("spoofed", {"email": "x@x.io", "status": "vip"}))

    assert selected(store, customers, leaf("customer.email", "exists")) == set()
    assert selected(store, customers, leaf("customer.status", "eq", "vip")) == set()
    assert selected(store, customers, leaf("customer.status", "eq", "active")) == {"spoofed"}


def test_strings_order_by_code_point_not_by_locale(store):
    customers = people(store, ("upper", {"n": "Zebra"}), ("lower", {"n": "apple"}))

    assert selected(store, customers, leaf("customer.n", "lt", "a")) == {"upper"}
    assert selected(store, customers, leaf("customer.external_id", "lt", "upper")) == {"lower"}


def test_numbers_compare_exactly_beyond_float_precision(postgresql_store):
    customers = people(postgresql_store, ("big", {"n": 2**53 + 1}), ("float", {"n": 0.1}))
    store = postgresql_store

    assert selected(store, customers, leaf("customer.n", "gt", float(2**53))) == {"big"}
    assert selected(store, customers, leaf("customer.n", "eq", 0.1)) == {"float"}
    assert selected(store, customers, leaf("customer.n", "lt", 0.30000000000000004)) == {"float"}


def test_constant_leaves_are_evaluated_against_the_constants(store, cast):
    constants = {"api": {"payload": {"total": 120, "coupon": None}}}
    big_order = leaf("api.payload.total", "gt", 100)
    vip = leaf("customer.plan", "eq", "vip")

    assert selected(store, cast, {"all": [big_order, vip]}, constants) == {"int"}
    assert selected(store, cast, {"any": [big_order, vip]}, constants) == set(cast)
    assert selected(store, cast, {"not": big_order}, constants) == set()
    assert selected(store, cast, leaf("api.payload.coupon", "not_exists"), constants) == set(cast)
    assert selected(store, cast, {"any": [{"not": big_order}, vip]}, constants) == {"int"}


def test_constant_leaves_fold_away_instead_of_reaching_sql():
    constants = {"data": {"x": 1}}

    assert condition_to_q(leaf("data.x", "eq", 1), constants=constants) == condition_to_q(
        {"any": [leaf("data.x", "eq", 2), leaf("data.x", "exists")]}, constants=constants
    )
    vip = leaf("customer.plan", "eq", "vip")
    assert condition_to_q({"all": [leaf("data.x", "eq", 1), vip]}, constants=constants) == (
        condition_to_q(vip)
    )


def test_constant_leaves_need_constants():
    with pytest.raises(ValueError, match=re.escape("'api.payload.total' is not a customer field")):
        condition_to_q(leaf("api.payload.total", "gt", 100))


def test_compiled_condition_is_a_q_usable_with_other_filters(
    workspace, other_workspace, ada, grace
):
    Customer.objects.create(workspace=other_workspace, attributes={"plan": "vip"})

    q = condition_to_q(leaf("customer.plan", "eq", "vip"))
    rows = Customer.objects.filter(Q(workspace=workspace) & q)

    assert isinstance(q, Q)
    assert list(rows) == [ada]
    assert list(Customer.objects.filter(workspace=workspace).exclude(q)) == [grace]


# --- value_from: the value read from the context -------------------------------------


def read(field, op, source):
    return {"field": field, "op": op, "value_from": source}


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        (
            {**leaf("event.properties.cart_id", "eq", "c1"), "value_from": "data.cart_id"},
            "conditions: give value or value_from, not both",
        ),
        (read("a", "exists", "data.x"), "conditions.value_from: 'exists' takes no value"),
        (read("a", "eq", ""), "conditions.value_from: expected a dotted path such as"),
        (read("a", "eq", 3), "conditions.value_from: expected a dotted path such as"),
        (read("a", "eq", "data..x"), "conditions.value_from: 'data..x' has an empty segment"),
        (
            read("event.properties.plan", "eq", "customer.plan"),
            "conditions.value_from: 'customer.plan' reads the customer; value_from reads the",
        ),
    ],
)
def test_invalid_value_from_is_explained(condition, problem):
    problems = condition_problems(condition)

    assert len(problems) == 1
    assert problems[0].startswith(problem)


def test_a_missing_value_says_value_from_may_give_it():
    assert condition_problems(leaf("a", "eq")) == [
        "conditions.value: required by 'eq' (or value_from, a path to read it from)"
    ]


def test_value_from_compares_with_another_path_of_the_context():
    context = {"data": {"cart_id": "c1", "carts": ["c1", "c2"], "total": 10, "prefix": "c"}}
    same_cart = read("event.properties.cart_id", "eq", "data.cart_id")

    assert condition_evaluate(same_cart, {**context, "event": {"properties": {"cart_id": "c1"}}})
    assert not condition_evaluate(
        same_cart, {**context, "event": {"properties": {"cart_id": "c2"}}}
    )
    event = {"properties": {"cart_id": "c2", "total": 12}}
    assert condition_evaluate(
        read("event.properties.cart_id", "in", "data.carts"), {**context, "event": event}
    )
    assert condition_evaluate(
        read("event.properties.total", "gt", "data.total"), {**context, "event": event}
    )
    assert condition_evaluate(
        read("event.properties.cart_id", "starts_with", "data.prefix"), {**context, "event": event}
    )


@pytest.mark.parametrize(
    ("op", "source"),
    [
        ("eq", "data.missing"),  # absent
        ("eq", "data.nothing"),  # null
        ("eq", "data.carts"),  # a list is no value for eq
        ("in", "data.cart_id"),  # a string is no list for in
        ("starts_with", "data.total"),  # a number is no prefix
        ("gt", "data.flag"),  # booleans do not order
        ("contains", "data.nested"),  # an object is no value
    ],
)
def test_a_value_from_that_gives_no_fitting_value_is_false_and_its_negation_true(op, source):
    context = {
        "data": {"cart_id": "c1", "carts": ["c1"], "total": 10, "flag": True,
                 "nested": {"a": 1}, "nothing": None},
        "event": {"properties": {"cart_id": "c1"}},
    }  # fmt: skip
    negated = {"eq": "ne", "in": "not_in", "contains": "not_contains"}

    assert not condition_evaluate(read("event.properties.cart_id", op, source), context)
    assert condition_evaluate({"not": read("event.properties.cart_id", op, source)}, context)
    if op in negated:
        assert condition_evaluate(read("event.properties.cart_id", negated[op], source), context)


def test_value_from_in_sql_is_the_constant_it_reads(store, cast):
    constants = {"data": {"plan": "vip", "plans": ["VIP", "vip-gold"], "none": None}}

    assert selected(store, cast, read("customer.plan", "eq", "data.plan"), constants) == {"int"}
    assert selected(store, cast, read("customer.plan", "in", "data.plans"), constants) == {
        "float",
        "text",
    }
    # Nothing to compare with: the positive leaf selects nobody, its negation everybody.
    assert selected(store, cast, read("customer.plan", "eq", "data.none"), constants) == set()
    assert selected(store, cast, read("customer.plan", "ne", "data.none"), constants) == set(cast)
    assert selected(store, cast, read("customer.plan", "eq", "data.plans"), constants) == set()


def test_value_from_needs_constants_to_compile():
    with pytest.raises(ValueError, match=re.escape("'data.plan' is not a customer field")):
        condition_to_q(read("customer.plan", "eq", "data.plan"))
