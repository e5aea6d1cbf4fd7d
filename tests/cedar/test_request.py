"""`Request`: parsing uids and contexts once, read-only fields, and the tuple it stands for."""

from __future__ import annotations

import pickle

import pytest

from rune.cedar import EntityUID, Request
from rune.cedar.errors import RequestError
from rune.cedar.values import CedarRecord


def test_fields_are_parsed_and_read_only() -> None:
    req = Request('User::"alice"', {"type": "Action", "id": "view"}, EntityUID("Photo", "p"),
                  {"n": 1, "s": "x", "b": True})
    assert req.principal == EntityUID("User", "alice")
    assert req.action == EntityUID("Action", "view")
    assert req.resource == EntityUID("Photo", "p")
    assert req.context == CedarRecord({"n": 1, "s": "x", "b": True})
    assert req.context.__class__ is CedarRecord
    with pytest.raises(AttributeError):
        req.principal = EntityUID("User", "bob")  # type: ignore[misc]


def test_text_uids_are_interned_and_cached() -> None:
    a = Request('User::"alice"', 'Action::"view"', 'Photo::"p"')
    b = Request('User::"alice"', 'Action::"view"', 'Photo::"p"')
    assert a.principal is b.principal
    c = Request(EntityUID("User", "alice"), 'Action::"view"', 'Photo::"p"')
    assert c.principal is a.principal


def test_behaves_like_the_tuple() -> None:
    req = Request('User::"alice"', 'Action::"view"', 'Photo::"p"', {"n": 1})
    p, a, r, c = req
    assert (p, a, r, c) == tuple(req) == req
    assert req[0] == p and req[-1] == c and req[:2] == (p, a) and len(req) == 4
    assert req == Request(*req)
    assert hash(req) == hash(Request(*req))
    assert req != Request('User::"bob"', 'Action::"view"', 'Photo::"p"', {"n": 1})
    assert pickle.loads(pickle.dumps(req)) == req
    assert repr(req).startswith('Request(principal=User::"alice", action=Action::"view"')


def test_context_is_copied() -> None:
    context = {"n": 1}
    req = Request('User::"a"', 'Action::"v"', 'Photo::"p"', context)
    context["n"] = 2
    assert req.context["n"] == 1


@pytest.mark.parametrize("context", [{"n": 2**63}, {"n": -(2**63) - 1}, {"f": 1.5}, [1]])
def test_contexts_cedar_rejects(context: object) -> None:
    with pytest.raises(RequestError):
        Request('User::"a"', 'Action::"v"', 'Photo::"p"', context)


def test_nested_contexts_take_the_full_path() -> None:
    req = Request('User::"a"', 'Action::"v"', 'Photo::"p"',
                  {"r": {"x": [1, 2]}, "e": {"__entity": {"type": "User", "id": "b"}}})
    assert req.context["e"] == EntityUID("User", "b")


@pytest.mark.parametrize("text", ['User::"a b"', 'Ns::User::"a"', 'User::"caf\u00e9"',
                                  'User::""'])
def test_uid_text_fast_and_full_paths_agree(text: str) -> None:
    from rune.cedar.parser import parse_entity_uid

    assert Request(text, 'Action::"v"', 'Photo::"p"').principal == parse_entity_uid(text)


@pytest.mark.parametrize("text", ['User :: "a"', 'User::"a', 'if::"a"', "User::'a'",
                                  'User::"\\u{61}"', 'User::"it\'s"', "", "User"])
def test_unnormalized_or_invalid_uid_text(text: str) -> None:
    with pytest.raises(RequestError) as info:
        Request(text, 'Action::"v"', 'Photo::"p"')
    assert info.value.path == "$.principal"


# -- context limits (issue 9): size and depth, each refused with the JSON path ---------------

_UIDS = ('User::"alice"', 'Action::"view"', 'Photo::"p"')


def _nested(levels: int, as_list: bool = False) -> object:
    """``levels`` records (or lists) one inside the other, around the number 1."""
    value: object = 1
    for _ in range(levels):
        value = [value] if as_list else {"a": value}
    return value


def test_context_depth_is_limited_with_the_path() -> None:
    assert Request(*_UIDS, {"a": _nested(3)}, max_context_depth=4).context
    with pytest.raises(RequestError) as caught:
        Request(*_UIDS, {"a": _nested(4)}, max_context_depth=4)
    assert caught.value.code == "nesting-too-deep"
    assert caught.value.path == "$.context.a.a.a.a"  # the fifth level, the context first
    with pytest.raises(RequestError) as caught:
        Request(*_UIDS, {"s": _nested(4, as_list=True)}, max_context_depth=4)
    assert caught.value.path == "$.context.s[0][0][0]"


def test_a_context_nested_a_million_levels_is_refused_quickly() -> None:
    # Once a raw RecursionError (or a long recursion); now a loop stops at the limit.
    for as_list in (False, True):
        with pytest.raises(RequestError) as caught:
            Request(*_UIDS, {"x": _nested(1_000_000, as_list)})
        assert caught.value.code == "nesting-too-deep"
        assert len(str(caught.value)) < 20_000


def test_a_context_that_contains_itself_is_too_deep() -> None:
    context: dict[str, object] = {}
    context["me"] = context
    with pytest.raises(RequestError, match="nested too deeply"):
        Request(*_UIDS, context)


@pytest.mark.parametrize("context", [
    {"s": "x" * 2_000},                      # one long string (the flat fast path)
    {"k" * 2_000: 1},                        # one long key
    {"list": list(range(2_000))},            # many values
    {"r": {"a": "x" * 1_000, "b": "y" * 1_000}},
], ids=["string", "key", "values", "nested"])
def test_context_size_is_limited_with_the_path(context: dict[str, object]) -> None:
    with pytest.raises(RequestError) as caught:
        Request(*_UIDS, context, max_context_size=1_000)
    assert caught.value.code == "context-too-large"
    assert caught.value.path is not None and caught.value.path.startswith("$.context.")
    assert Request(*_UIDS, context, max_context_size=10_000).context


def test_default_context_limits_admit_large_real_contexts() -> None:
    context = {"path": "x" * 500_000, "tags": [f"t{i}" for i in range(10_000)],
               "deep": _nested(100)}
    assert len(Request(*_UIDS, context).context) == 3
    with pytest.raises(RequestError, match="context is too large"):
        Request(*_UIDS, {"blob": "x" * (1 << 20)})


# -- the plain-context fast path agrees with the full parse, limits included ---------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rune.cedar import request as request_module  # noqa: E402

_LEAVES = st.one_of(st.text(max_size=8), st.booleans(), st.integers(-(2**63), 2**63 - 1))
_PLAIN = st.recursive(
    _LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(context=st.dictionaries(st.text(max_size=4), _PLAIN, max_size=5),
       max_size=st.integers(1, 120), max_depth=st.integers(1, 12))
def test_the_plain_fast_path_keeps_the_limits(context: dict[str, object], max_size: int,
                                             max_depth: int) -> None:
    plain = request_module._plain_record(context, max_size, max_depth)
    try:
        request_module.check_context(context, max_size, max_depth)
    except RequestError:
        assert plain is None  # over a limit: the full parse reports it, never the fast path
        return
    full = Request('User::"u"', 'Action::"a"', 'Thing::"t"', context,
                   max_context_size=max_size, max_context_depth=max_depth)
    if plain is not None:
        assert plain == full.context
