"""`rune._internal.pickling`: generated functions, their shared namespaces, closures and
cycles come back working; RUNE's module globals come back as themselves; locks, views
and thread-locals are rebuilt."""

from __future__ import annotations

import pickle
import threading
from types import MappingProxyType
from typing import Any

import pytest

from rune._internal.pickling import dumps, loads
from rune.cedar import index


def generated() -> dict[str, Any]:
    """Two functions compiled into one namespace, calling each other, plus a closure."""
    namespace: dict[str, Any] = {"LIMIT": 10, "_UNSET": index._UNSET}
    exec(compile("def small(x):\n    return x < LIMIT and not big(x)\n"
                 "def big(x):\n    return x >= LIMIT\n"
                 "def unset(x=_UNSET):\n    return x is _UNSET\n", "<generated>", "exec"),
         namespace)
    seen: list[int] = []

    def remember(x: int) -> int:
        seen.append(x)
        return len(seen)

    def recursive(n: int) -> int:
        return 0 if n == 0 else 1 + recursive(n - 1)

    return {"small": namespace["small"], "big": namespace["big"],
            "unset": namespace["unset"], "remember": remember, "seen": seen,
            "recursive": recursive}


def test_generated_functions_and_closures_work_after_a_round_trip() -> None:
    copy = loads(dumps(generated()))
    assert copy["small"](3) and not copy["small"](12) and copy["big"](12)
    # One namespace again: both functions see the same globals.
    assert copy["small"].__globals__ is copy["big"].__globals__
    copy["small"].__globals__["LIMIT"] = 2
    assert copy["big"](3)
    # The closure's list is the list that came with it.
    assert copy["remember"](5) == 1 and copy["seen"] == [5]
    assert copy["recursive"](4) == 4
    assert copy["small"].__qualname__ == "small"


def test_module_globals_keep_their_identity() -> None:
    copy = loads(dumps({"unset": generated()["unset"], "sentinel": index._UNSET}))
    assert copy["sentinel"] is index._UNSET
    assert copy["unset"]() and copy["unset"].__defaults__[0] is index._UNSET


def test_importable_functions_travel_by_name() -> None:
    assert loads(dumps([dumps, index.PreparedPolicySet])) == [dumps, index.PreparedPolicySet]


def test_locks_views_and_thread_locals_are_rebuilt() -> None:
    data = {"a": 1}
    value = {"lock": threading.Lock(), "rlock": threading.RLock(), "data": data,
             "view": MappingProxyType(data), "local": threading.local()}
    copy = loads(dumps(value))
    assert copy["lock"].acquire(blocking=False)
    assert copy["rlock"].acquire(blocking=False)
    copy["data"]["b"] = 2
    assert dict(copy["view"]) == {"a": 1, "b": 2}  # a view of the copied mapping
    assert isinstance(copy["local"], threading.local)


def test_what_pickle_cannot_pickle_is_a_pickling_error() -> None:
    with pytest.raises(pickle.PicklingError):
        dumps(x for x in range(3))


def test_a_compiled_policy_set_decides_after_a_round_trip() -> None:
    from rune.cedar import Entities, PolicySet, Request, authorize

    policies = PolicySet.from_str(
        'permit(principal, action == Action::"read", resource) when { context.n < 5 };'
        'forbid(principal, action, resource) when { context.n == 3 };')
    entities = Entities.from_json([])
    request = Request('U::"u"', 'Action::"read"', 'D::"d"', {"n": 3})
    before = [authorize(Request('U::"u"', 'Action::"read"', 'D::"d"', {"n": n}), policies,
                        entities) for n in range(6)]
    copy = loads(dumps(policies))
    after = [authorize(Request('U::"u"', 'Action::"read"', 'D::"d"', {"n": n}), copy,
                       entities) for n in range(6)]
    assert [(r.decision, r.reason) for r in after] == [(r.decision, r.reason) for r in before]
    assert authorize(request, copy, entities).decision == "deny"
