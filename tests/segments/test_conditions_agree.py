"""The Python evaluator and the SQL compiler select exactly the same customers.

Hypothesis draws random nested conditions over customer columns and attributes (and over
constant, non-customer fields) and random customers whose values collide on purpose: numbers
that are equal across int/float, strings that differ only in case or normalisation, booleans
next to 0 and 1, nulls, lists, nested objects and missing keys. Each example inserts its
customers in a savepoint that is rolled back afterwards.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Customer
from segments.conditions import (
    OPERATORS,
    condition_evaluate,
    condition_problems,
    condition_to_q,
    customer_condition_context,
)

COLUMNS = ["id", "email", "external_id", "anonymous_id", "status", "timezone"]
KEYS = st.sampled_from(["plan", "Plan", "age", "tags", "address", "city", "é", "日本", "x", "0"])

TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=4
)
STRINGS = (
    st.sampled_from(
        [
            *("vip", "VIP", "Vip", "vi", "ip", "", " ", "é", "É", "e\u0301", "ß", "SS", "日本"),
            *("😀", "1", "10", "9", "1.0", "true", "null", "a", "Z", "z", "active", "UTC"),
            *("u1", "a@x.io"),
        ]
    )
    | TEXT
)
SAFE_INTEGERS = st.integers(-(2**53), 2**53)
SAFE_NUMBERS = st.sampled_from([0, 1, -1, 1.0, 1.5, 2, 9, 10, -0.0, 0.1, 1e16, -2.5]) | (
    SAFE_INTEGERS | st.floats(allow_nan=False, allow_infinity=False)
)
#: PostgreSQL compares any JSON numbers exactly; SQLite only up to 2**53 (see the docstring).
NUMBERS = SAFE_NUMBERS | st.sampled_from([2**53 + 1, 10**20, 1e20]) | st.integers()


def json_values(numbers):
    scalars = st.none() | st.booleans() | numbers | STRINGS
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
        max_leaves=6,
    )


def customers(numbers):
    """Unsaved customers; duplicate emails/external ids become NULL (they are unique)."""
    one = st.builds(
        Customer,
        external_id=st.none() | st.sampled_from(["u1", "U1", "vip", "", "é"]),
        email=st.none() | st.sampled_from(["a@x.io", "A@x.io", "vip", "é@x.io"]),
        anonymous_id=st.none() | STRINGS,
        status=st.sampled_from(["active", "inactive"]),
        timezone=st.sampled_from(["", "UTC", "utc", "Europe/Paris"]),
        attributes=st.dictionaries(
            KEYS | st.sampled_from(["email", "id", "status"]), json_values(numbers), max_size=5
        ),
    )
    return st.lists(one, min_size=2, max_size=6).map(_unique_identifiers)


def _unique_identifiers(customer_list):
    for column in ("external_id", "email"):
        seen = set()
        for customer in customer_list:
            value = getattr(customer, column)
            if value in seen:
                setattr(customer, column, None)
            seen.add(value)
    return customer_list


CUSTOMER_FIELDS = st.one_of(
    st.just("customer"),
    (KEYS | st.sampled_from(COLUMNS)).map(lambda key: f"customer.{key}"),
    st.lists(KEYS | st.sampled_from(COLUMNS), min_size=2, max_size=3).map(
        lambda keys: ".".join(["customer", *keys])
    ),
)
CONSTANT_FIELDS = st.sampled_from(["api.payload", "data", "event.properties"]).flatmap(
    lambda root: KEYS.map(lambda key: f"{root}.{key}")
)
#: The operators that take a value, which value_from may give them.
VALUE_OPERATORS = [op for op in OPERATORS if op not in ("exists", "not_exists")]


def observed(path, value, values_at):
    """Map each path under ``value`` to the scalars found there (or in an array there)."""
    values_at.setdefault(path, [])
    if isinstance(value, dict):
        for key, item in value.items():
            observed(f"{path}.{key}", item, values_at)
    elif isinstance(value, list):
        for item in value:
            if not isinstance(item, (dict, list)):
                observed(path, item, values_at)
    elif value is not None:
        values_at[path].append(value)


def variants(text):
    """A string's case variants, prefixes and substrings: for eq, contains, starts_with, order."""
    cuts = st.tuples(st.integers(0, len(text)), st.integers(0, len(text)))
    return st.one_of(
        st.sampled_from([text, text.upper(), text.lower(), text.swapcase()]),
        st.integers(0, len(text)).map(lambda end: text[:end]),
        cuts.map(lambda ij: text[min(ij) : max(ij)]),
    )


def mostly(likely, other):
    """``likely`` three times in four, else ``other``."""
    return st.integers(0, 3).flatmap(lambda n: other if n == 0 else likely)


def conditions(numbers, fields, data=(), value_from=None):
    """Random nested conditions, mostly over the fields and values found in ``data``.

    ``data`` is (root, value) pairs, e.g. ("customer", context). Without it random values
    almost never match, and nearly every condition selects all customers or none.
    ``value_from``: paths a leaf may read its value from instead of a constant.
    """
    values_at = {}
    for root, value in data:
        observed(root, value, values_at)
    anywhere = [value for values in values_at.values() for value in values]
    random_scalars = st.booleans() | numbers | STRINGS

    def leaf_for(field):
        seen = values_at.get(field) or anywhere
        strings = [value for value in seen if isinstance(value, str)]
        scalars = mostly(st.sampled_from(seen), random_scalars) if seen else random_scalars
        if strings:
            scalars = st.one_of(scalars, st.sampled_from(strings).flatmap(variants))
            text = mostly(st.sampled_from(strings).flatmap(variants), STRINGS)
        else:
            text = STRINGS
        orderable = st.one_of(scalars.filter(lambda value: not isinstance(value, bool)), text)

        def leaf(op, values):
            return values.map(lambda value: {"field": field, "op": op, "value": value})

        leaves = [
            *(leaf(op, scalars) for op in ["eq", "ne", "contains", "not_contains"]),
            *(leaf(op, orderable) for op in ["gt", "gte", "lt", "lte"]),
            leaf("starts_with", text),
            *(leaf(op, st.lists(scalars, max_size=4)) for op in ["in", "not_in"]),
            st.sampled_from(["exists", "not_exists"]).map(lambda op: {"field": field, "op": op}),
        ]
        if value_from is not None:
            leaves.append(
                st.tuples(st.sampled_from(VALUE_OPERATORS), value_from).map(
                    lambda pair: {"field": field, "op": pair[0], "value_from": pair[1]}
                )
            )
        return st.one_of(*leaves)

    if values_at:
        fields = mostly(st.sampled_from(sorted(values_at)), fields)
    return st.recursive(
        fields.flatmap(leaf_for),
        lambda inner: (
            st.lists(inner, min_size=1, max_size=3).map(lambda children: {"all": children})
            | st.lists(inner, min_size=1, max_size=3).map(lambda children: {"any": children})
            | inner.map(lambda child: {"not": child})
        ),
        max_leaves=6,
    )


CONSTANTS = st.fixed_dictionaries(
    {
        "api": st.fixed_dictionaries(
            {"payload": st.dictionaries(KEYS, json_values(NUMBERS), max_size=3)}
        ),
        "data": st.dictionaries(KEYS, json_values(NUMBERS), max_size=3),
        "event": st.fixed_dictionaries(
            {"properties": st.dictionaries(KEYS, json_values(NUMBERS), max_size=3)}
        ),
    }
)

# Examples share the test's workspace and roll their rows back, so a function-scoped
# fixture is exactly what they need.
EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def contexts(customer_list):
    return [("customer", customer_condition_context(customer)) for customer in customer_list]


def evaluated(condition, customer_list, constants=None):
    return {
        customer.public_id
        for customer in customer_list
        if condition_evaluate(
            condition, {**(constants or {}), "customer": customer_condition_context(customer)}
        )
    }


@pytest.mark.django_db
@EXAMPLES
@given(customer_list=customers(NUMBERS), data=st.data())
def test_postgresql_selects_the_customers_the_evaluator_accepts(
    postgresql_store, rollback, customer_list, data
):
    condition = data.draw(conditions(NUMBERS, CUSTOMER_FIELDS, contexts(customer_list)))
    assert condition_problems(condition) == []
    with rollback():
        postgresql_store.add(customer_list)
        reloaded = list(Customer.objects.filter(workspace=postgresql_store.workspace))

        selected = postgresql_store.select(condition_to_q(condition))

        assert selected == evaluated(condition, customer_list)
        assert selected == evaluated(condition, reloaded)


@pytest.mark.django_db
@EXAMPLES
@given(customer_list=customers(NUMBERS), constants=CONSTANTS, data=st.data())
def test_constant_leaves_fold_to_what_the_evaluator_decides(
    postgresql_store, rollback, customer_list, constants, data
):
    fields = CUSTOMER_FIELDS | CONSTANT_FIELDS
    condition = data.draw(
        conditions(
            NUMBERS,
            fields,
            [*contexts(customer_list), *constants.items()],
            value_from=CONSTANT_FIELDS,
        )
    )
    with rollback():
        postgresql_store.add(customer_list)

        selected = postgresql_store.select(condition_to_q(condition, constants=constants))

        assert selected == evaluated(condition, customer_list, constants)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(customer_list=customers(SAFE_NUMBERS), data=st.data())
def test_sqlite_selects_the_customers_the_evaluator_accepts(sqlite_store, customer_list, data):
    condition = data.draw(conditions(SAFE_NUMBERS, CUSTOMER_FIELDS, contexts(customer_list)))
    try:
        sqlite_store.add(customer_list)

        assert sqlite_store.select(condition_to_q(condition)) == evaluated(condition, customer_list)
    finally:
        sqlite_store.clear()
