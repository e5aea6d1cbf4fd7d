"""The JSON schema syntax: parsing, printing (`to_json`), and errors with JSON paths."""

from __future__ import annotations

import json
from typing import Any

import cedarpy
import pytest

from rune.cedar.errors import SchemaError
from rune.cedar.schema import EntityType, ExtensionType, Schema, SetType
from rune.cedar.schema.model import BOOL, LONG, STRING
from rune.cedar.values import EntityUID

PHOTOFLASH_JSON: dict[str, Any] = {
    "PhotoFlash": {
        "annotations": {"doc": "photos"},
        "commonTypes": {
            "Ctx": {"type": "Record", "attributes": {"authenticated": {"type": "Boolean"}}},
        },
        "entityTypes": {
            "User": {
                "memberOfTypes": ["UserGroup"],
                "shape": {"type": "Record", "attributes": {
                    "department": {"type": "String"},
                    "jobLevel": {"type": "Long", "required": False},
                    "ip": {"type": "Extension", "name": "ipaddr"},
                }},
                "tags": {"type": "Set", "element": {"type": "String"}},
            },
            "UserGroup": {},
            "Album": {"memberOfTypes": ["Album"], "shape": {"type": "Ctx"}},
            "Photo": {
                "memberOfTypes": ["Album"],
                "shape": {"type": "Record", "attributes": {
                    "owner": {"type": "Entity", "name": "User"},
                    "viewers": {"type": "Set", "element": {"type": "EntityOrCommon",
                                                           "name": "User"}},
                }},
            },
            "Level": {"enum": ["low", "high"], "annotations": {"doc": "levels"}},
        },
        "actions": {
            "read": {},
            "viewPhoto": {
                "memberOf": [{"id": "read"}],
                "appliesTo": {"principalTypes": ["User"], "resourceTypes": ["Photo"],
                              "context": {"type": "Ctx"}},
                "annotations": {"doc": "view"},
            },
            "grouped": {"memberOf": [{"id": "read", "type": "PhotoFlash::Action"}]},
        },
    }
}

PHOTOFLASH_TEXT = """
@doc("photos")
namespace PhotoFlash {
  type Ctx = { authenticated: Bool };
  entity User in [UserGroup] {
    department: String, jobLevel?: Long, ip: ipaddr
  } tags Set<String>;
  entity UserGroup;
  entity Album in [Album] { authenticated: Bool };
  entity Photo in [Album] { owner: User, viewers: Set<User> };
  @doc("levels") entity Level enum ["low", "high"];
  action read;
  @doc("view") action viewPhoto in [read] appliesTo {
    principal: [User], resource: [Photo], context: Ctx
  };
  action grouped in [PhotoFlash::Action::"read"];
}
"""


def test_json_schema_resolves() -> None:
    schema = Schema.from_json(PHOTOFLASH_JSON)
    user = schema.entity_types["PhotoFlash::User"]
    assert user.member_of_types == {"PhotoFlash::UserGroup"}
    assert user.shape.attributes["department"].type == STRING
    assert not user.shape.attributes["jobLevel"].required
    assert user.shape.attributes["ip"].type == ExtensionType("ipaddr")
    assert user.tags == SetType(STRING)
    album = schema.entity_types["PhotoFlash::Album"]
    assert album.shape.attributes["authenticated"].type == BOOL
    photo = schema.entity_types["PhotoFlash::Photo"].shape.attributes
    assert photo["viewers"].type == SetType(EntityType("PhotoFlash::User"))
    assert schema.entity_types["PhotoFlash::Level"].enum == ("low", "high")
    view = schema.actions[EntityUID("PhotoFlash::Action", "viewPhoto")]
    assert view.member_of == (EntityUID("PhotoFlash::Action", "read"),)
    assert view.context.attributes["authenticated"].type == BOOL
    grouped = schema.actions[EntityUID("PhotoFlash::Action", "grouped")]
    assert grouped.member_of == view.member_of and not grouped.applies_to


def test_json_text_is_accepted() -> None:
    assert Schema.from_json(json.dumps(PHOTOFLASH_JSON)).entity_types.keys() == Schema.from_json(
        PHOTOFLASH_JSON).entity_types.keys()


def test_both_syntaxes_give_the_same_schema() -> None:
    from_json = Schema.from_json(PHOTOFLASH_JSON)
    from_text = Schema.from_str(PHOTOFLASH_TEXT)
    assert dict(from_json.entity_types) == dict(from_text.entity_types)
    assert dict(from_json.actions) == dict(from_text.actions)


def test_to_json_round_trips() -> None:
    for schema in (Schema.from_str(PHOTOFLASH_TEXT), Schema.from_json(PHOTOFLASH_JSON)):
        again = Schema.from_json(schema.to_json())
        assert dict(again.entity_types) == dict(schema.entity_types)
        assert dict(again.actions) == dict(schema.actions)
        assert dict(again.common_types) == dict(schema.common_types)


def test_to_json_is_what_cedar_reads_from_the_text() -> None:
    schema = Schema.from_str(PHOTOFLASH_TEXT)
    from_json = cedarpy.Schema.from_json_str(json.dumps(schema.to_json()))
    assert str(from_json) == str(cedarpy.Schema.from_str(PHOTOFLASH_TEXT))


def test_to_json_is_a_fresh_copy() -> None:
    schema = Schema.from_str("entity A;")
    schema.to_json()[""]["entityTypes"]["B"] = {}
    assert "B" not in schema.to_json()[""]["entityTypes"]


def test_to_json_keeps_names_and_annotations_as_written() -> None:
    schema = Schema.from_str(
        '@d("n") namespace N { @e entity A in [B] { @f a?: Long, b: Set<__cedar::String> }; '
        "entity B; action x in [\"y\", Action::\"y\"]; action y; }"
    )
    body = schema.to_json()["N"]
    assert body["annotations"] == {"d": "n"}
    entity = body["entityTypes"]["A"]
    assert entity["annotations"] == {"e": ""}
    assert entity["memberOfTypes"] == ["B"]
    assert entity["shape"]["attributes"]["a"] == {
        "type": "EntityOrCommon", "name": "Long", "required": False, "annotations": {"f": ""}}
    assert entity["shape"]["attributes"]["b"]["element"] == {
        "type": "EntityOrCommon", "name": "__cedar::String"}
    assert body["actions"]["x"]["memberOf"] == [{"id": "y"}, {"id": "y", "type": "Action"}]
    assert "appliesTo" not in body["actions"]["y"]


def test_primitive_keywords_and_common_references() -> None:
    schema = Schema.from_json({"": {
        "commonTypes": {"ipaddr": {"type": "String"}, "N": {"type": "Long"}},
        "entityTypes": {"A": {"shape": {"type": "Record", "attributes": {
            "a": {"type": "ipaddr"}, "b": {"type": "Bool"}, "c": {"type": "N"},
            "d": {"type": "EntityOrCommon", "name": "__cedar::ipaddr"},
            "e": {"type": "__cedar::Long"},
        }}}},
        "actions": {},
    }})
    attrs = schema.entity_types["A"].shape.attributes
    assert [attrs[k].type for k in "abcde"] == [
        STRING, BOOL, LONG, ExtensionType("ipaddr"), LONG]


def entity_shape(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"": {"entityTypes": {"A": {"shape": {"type": "Record", "attributes": attributes}}},
                 "actions": {}}}


@pytest.mark.parametrize("data,path", [
    ([], "$"),
    ({"": {"entityTypes": {}}}, "$[\"\"]"),
    ({"": {"entityTypes": {}, "actions": {}, "extra": {}}}, "$[\"\"].extra"),
    ({"N ": {"entityTypes": {}, "actions": {}}}, "$[\"N \"]"),
    ({"__cedar::A": {"entityTypes": {}, "actions": {}}}, "$[\"__cedar::A\"]"),
    ({"": {"entityTypes": {}, "actions": {}, "annotations": {"a": "b"}}},
     "$[\"\"].annotations"),
    ({"": {"entityTypes": {"A::B": {}}, "actions": {}}}, "$[\"\"].entityTypes[\"A::B\"]"),
    ({"": {"entityTypes": {"if": {}}, "actions": {}}}, "$[\"\"].entityTypes.if"),
    ({"": {"entityTypes": {"A": {"foo": 1}}, "actions": {}}}, "$[\"\"].entityTypes.A.foo"),
    ({"": {"entityTypes": {"A": {"enum": []}}, "actions": {}}}, "$[\"\"].entityTypes.A.enum"),
    ({"": {"entityTypes": {"A": {"enum": ["x"], "memberOfTypes": []}}, "actions": {}}},
     "$[\"\"].entityTypes.A.memberOfTypes"),
    (entity_shape({"a": {"type": "Set"}}), "$[\"\"].entityTypes.A.shape.attributes.a"),
    (entity_shape({"a": {"type": "Long", "required": "yes"}}),
     "$[\"\"].entityTypes.A.shape.attributes.a.required"),
    (entity_shape({"a": {"type": "Long", "name": "x"}}),
     "$[\"\"].entityTypes.A.shape.attributes.a.name"),
    (entity_shape({"a": {"type": "Record", "attributes": {}, "additionalAttributes": True}}),
     "$[\"\"].entityTypes.A.shape.attributes.a.additionalAttributes"),
    (entity_shape({"a": {"type": "Extension", "name": "foo"}}),
     "$[\"\"].entityTypes.A.shape.attributes.a"),
    (entity_shape({"a": {"type": "A"}}), "$[\"\"].entityTypes.A.shape.attributes.a"),
    (entity_shape({"a": {"type": "Entity", "name": "__cedar::Long"}}),
     "$[\"\"].entityTypes.A.shape.attributes.a"),
    ({"": {"entityTypes": {"A": {"shape": {"type": "Long"}}}, "actions": {}}},
     "$[\"\"].entityTypes.A.shape"),
    ({"": {"entityTypes": {}, "actions": {"a": {"attributes": {}}}}},
     "$[\"\"].actions.a.attributes"),
    ({"": {"entityTypes": {}, "actions": {"a": {"appliesTo": {"principalTypes": []}}}}},
     "$[\"\"].actions.a.appliesTo"),
    ({"": {"entityTypes": {}, "actions": {"a": {"memberOf": [{"id": "b"}]}}}},
     "$[\"\"].actions.a.memberOf[0]"),
    ({"": {"commonTypes": {"Long": {"type": "String"}}, "entityTypes": {}, "actions": {}}},
     "$[\"\"].commonTypes.Long"),
    ({"": {"commonTypes": {"T": {"type": "T"}}, "entityTypes": {}, "actions": {}}},
     "$[\"\"].commonTypes.T"),
])
def test_rejected_with_path(data: Any, path: str) -> None:
    with pytest.raises(SchemaError) as info:
        Schema.from_json(data)
    assert path in [d.path for d in info.value.diagnostics]
    with pytest.raises(ValueError):
        cedarpy.Schema.from_json_str(json.dumps(data))  # the judge agrees it is invalid


def test_every_json_error_is_reported() -> None:
    data = {"": {"entityTypes": {
        "A": {"shape": {"type": "Record", "attributes": {"x": {"type": "Missing"}}}},
        "B": {"memberOfTypes": ["Nope"], "bogus": 1},
    }, "actions": {"a": {"memberOf": [{"id": "zzz"}]}}}}
    with pytest.raises(SchemaError) as info:
        Schema.from_json(data)
    paths = [d.path for d in info.value.diagnostics]
    assert paths == ['$[""].entityTypes.B.bogus']  # grammar errors come first, alone
    del data[""]["entityTypes"]["B"]["bogus"]
    with pytest.raises(SchemaError) as info:
        Schema.from_json(data)
    assert sorted(d.path or "" for d in info.value.diagnostics) == [
        '$[""].actions.a.memberOf[0]',
        '$[""].entityTypes.A.shape.attributes.x',
        '$[""].entityTypes.B.memberOfTypes[0]',
    ]


def test_invalid_json_text() -> None:
    with pytest.raises(SchemaError) as info:
        Schema.from_json("{not json")
    assert info.value.code == "invalid-json"
