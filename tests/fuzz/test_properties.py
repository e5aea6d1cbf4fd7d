"""Structured fuzzing with Hypothesis, where the shape of the input matters more than its
bytes: any JSON-like value as a request context, entity attribute or engine argument
gives a decision or a `RuneError`, never a raw exception, and a decision made while a
policy failed is never allow on account of that policy."""

from __future__ import annotations

import math
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rune
from rune.cedar import Entities, PolicySet, Request, authorize
from rune.errors import RuneError

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=12), st.binary(max_size=4),
    st.sampled_from([2**63, -(2**63) - 1, 10**400, math.inf, "__entity", "__extn"]),
)
_KEYS = st.one_of(st.text(max_size=6), st.sampled_from(["__entity", "__extn", "type", "id",
                                                        "fn", "arg", "a"]))
JSON_LIKE = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(_KEYS, inner, max_size=4),
        st.dictionaries(st.one_of(st.integers(), st.none()), inner, max_size=2),
        st.builds(lambda t, i: {"__entity": {"type": t, "id": i}},
                  st.sampled_from(["User", "A::B", "", "1x", "__cedar"]), st.text(max_size=4)),
        st.builds(lambda f, a: {"__extn": {"fn": f, "arg": a}},
                  st.sampled_from(["ip", "decimal", "datetime", "duration", "nope"]), inner),
    ),
    max_leaves=20,
)
"""Values a hostile caller might pass where JSON is expected."""

POLICY_TEXT = """
permit(principal, action, resource) when { context.a == 1 };
permit(principal, action, resource) when { context.s like "a*" && resource.x.contains(1) };
forbid(principal, action, resource) when { context.n > 3 };
permit(principal, action, resource) when { principal.tags.containsAny(context.tags) };
"""
POLICIES = PolicySet.from_str(POLICY_TEXT)
# RUNE_FUZZ_EXAMPLES=5000 for a longer campaign; `make test` tries 100 per property.
_SETTINGS = settings(max_examples=int(os.environ.get("RUNE_FUZZ_EXAMPLES", "100")), deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def _safe(response: Any) -> None:
    failed = {e.policy_id for e in response.errors}
    assert not failed & set(response.reason)
    if response.decision == "allow":
        assert response.reason


@_SETTINGS
@given(context=JSON_LIKE)
def test_any_context_decides_or_raises_a_rune_error(context: Any) -> None:
    try:
        request = Request('User::"u"', 'Action::"a"', 'Doc::"d"', context)
    except (RuneError, TypeError) as error:
        assert not isinstance(error, TypeError) or "`" in str(error)
        return
    _safe(authorize(request, POLICIES, Entities.from_json([])))


@_SETTINGS
@given(attrs=st.dictionaries(_KEYS, JSON_LIKE, max_size=3), tags=JSON_LIKE,
       parents=st.lists(JSON_LIKE, max_size=2))
def test_any_entity_data_loads_or_raises_a_rune_error(attrs: Any, tags: Any,
                                                     parents: Any) -> None:
    data = [{"uid": {"type": "User", "id": "u"}, "attrs": attrs, "parents": parents,
             "tags": tags}]
    try:
        entities = Entities.from_json(data)
    except RuneError:
        return
    request = Request('User::"u"', 'Action::"a"', 'Doc::"d"', {"a": 1, "tags": ["x"]})
    _safe(authorize(request, POLICIES, entities))


_ENGINE = rune.Engine(policies=POLICY_TEXT)


@_SETTINGS
@given(principal=JSON_LIKE, context=JSON_LIKE, amount=JSON_LIKE, ttl=JSON_LIKE)
def test_engine_calls_decide_or_raise_documented_errors(principal: Any, context: Any,
                                                        amount: Any, ttl: Any) -> None:
    calls = [
        lambda: _ENGINE.authorize(principal, 'Action::"a"', 'Doc::"d"', context),
        lambda: _ENGINE.authorize('User::"u"', 'Action::"a"', 'Doc::"d"', context),
        lambda: _ENGINE.authorize_batch([('User::"u"', 'Action::"a"', 'Doc::"d"', context),
                                         principal]),
        lambda: _ENGINE.record('User::"u"', 'Action::"a"', 'Doc::"d"', amount=amount,
                               at=ttl),
        lambda: _ENGINE.approve('User::"u"', 'Action::"a"', 'Doc::"d"', ttl_seconds=ttl),
    ]
    for call in calls:
        try:
            result = call()
        except RuneError:
            continue
        except TypeError as error:
            assert "`" in str(error), error
            continue
        for decision in result if isinstance(result, list) else [result]:
            if isinstance(decision, rune.Decision) and decision.allowed:
                assert set(decision.reasons) - {e.split(":")[0] for e in decision.errors}
