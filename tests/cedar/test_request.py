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
