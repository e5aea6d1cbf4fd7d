"""Where the gateway's AuthZEN requests are decided: a `rune.Engine` in the same process,
or a running `rune serve` (any AuthZEN 1.0 PDP) over HTTP.

Both read an evaluation the same way `rune serve` does: `{type, id}` is the Cedar entity
`type::"id"`, an action `{name}` is `Action::"name"`, `properties` are attributes for the
request (attributes in the store win), `context` is the Cedar context with `null` members
dropped and numbers with a fraction as `decimal` values (at most four places). An "ask"
is a denial. A request the PDP refuses as ill-formed (an entity type that is not a Cedar
name, a value Cedar cannot hold) is a `MappingError`; anything else that keeps a valid
answer from coming back is a `DecisionPointError`. No path yields an allow by default.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, Protocol

from rune.cedar import EntityUID, RequestError
from rune.cedar.json_format import check_entity_type
from rune.engine.request_entities import EntityProperties, decide
from rune.errors import RuneError
from rune.integrations.mcp.errors import DecisionPointError, MappingError
from rune.integrations.mcp.mapping import AuthorizationRequest

if TYPE_CHECKING:
    import rune

__all__ = ["DecisionPoint", "EngineDecisionPoint", "HttpDecisionPoint", "Outcome"]

_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_DECIMAL_LIMIT: Final = Decimal("922337203685477.5807")
_MAX_DEPTH: Final = 32
_MAX_RESPONSE: Final = 4 << 20


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision on an `AuthorizationRequest`: allowed only when every evaluation is;
    ``reason`` says why not (for the JSON-RPC error message)."""

    allowed: bool
    reason: str = ""


class DecisionPoint(Protocol):
    """Decides AuthZEN requests for the gateway (the PDP)."""

    async def decide(self, request: AuthorizationRequest) -> Outcome:
        """Allowed only when every evaluation of ``request`` is a permit."""
        ...

    async def decide_each(self, evaluations: Sequence[Mapping[str, Any]]
                          ) -> list[bool | None]:
        """One verdict per evaluation (for hiding tools from a list); None for one the
        PDP refused as ill-formed."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def _described(evaluation: Mapping[str, Any]) -> str:
    action = evaluation["action"]["name"]
    resource = evaluation["resource"]
    return f"`{action}` on `{resource['type']}::{json.dumps(resource['id'])}`"


# -- in process -----------------------------------------------------------------------------

def _cedar_value(value: Any, path: str, depth: int) -> Any:
    if depth <= 0:
        raise MappingError(f"`{path}` nests too deeply", code="mapping-invalid-field")
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise MappingError(f"`{path}` does not fit a 64-bit integer",
                               code="mapping-invalid-field")
        return value
    if isinstance(value, float):
        try:
            exact = Decimal(repr(value))
        except InvalidOperation:
            exact = Decimal("NaN")
        if not exact.is_finite() or exact != exact.quantize(Decimal("0.0001")) or \
                abs(exact) > _DECIMAL_LIMIT:
            raise MappingError(f"`{path}` is a number Cedar cannot hold as a decimal",
                               code="mapping-invalid-field")
        return {"__extn": {"fn": "decimal", "arg": f"{exact.quantize(Decimal('0.0001'))}"}}
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            if item is None:
                raise MappingError(f"`{path}[{i}]` is null", code="mapping-invalid-field")
            out.append(_cedar_value(item, f"{path}[{i}]", depth - 1))
        return out
    if isinstance(value, dict):
        return {key: _cedar_value(item, f"{path}.{key}", depth - 1)
                for key, item in value.items() if item is not None}
    raise MappingError(f"`{path}` is not a JSON value", code="mapping-invalid-field")


_VALID_TYPES: set[str] = set()  # entity type names seen to be valid (bounded)


def _entity_type(name: str, path: str) -> str:
    """``name`` when it is a Cedar entity type name (as `rune serve` requires)."""
    if name not in _VALID_TYPES:
        try:
            check_entity_type(name, path, RequestError)
        except RuneError:
            raise MappingError(f"`{path}` `{name[:80]}` is not a Cedar entity type name",
                               code="mapping-invalid-field") from None
        if len(_VALID_TYPES) < 4096:
            _VALID_TYPES.add(name)
    return name


class EngineDecisionPoint:
    """Decides with a `rune.Engine` in this process (microseconds, no I/O)."""

    def __init__(self, engine: rune.Engine) -> None:
        self.engine = engine

    def _allowed(self, evaluation: Mapping[str, Any]) -> tuple[bool, str]:
        subject, action, resource = (evaluation["subject"], evaluation["action"],
                                     evaluation["resource"])
        raw = evaluation.get("context")
        context = _cedar_value(raw, "context", _MAX_DEPTH) if raw else None
        try:
            principal = EntityUID(_entity_type(subject["type"], "subject.type"), subject["id"])
            act = EntityUID("Action", action["name"])
            target = EntityUID(_entity_type(resource["type"], "resource.type"), resource["id"])
            properties = [
                EntityProperties(uid, _cedar_value(entity["properties"], f"{part}.properties",
                                                   _MAX_DEPTH), f"$.{part}.properties")
                for part, entity, uid in (("subject", subject, principal),
                                          ("action", action, act),
                                          ("resource", resource, target))
                if entity.get("properties")]
            decision = decide(self.engine, principal, act, target, context, properties)
        except MappingError:
            raise
        except RuneError as error:
            raise MappingError(f"the decision point refused the request: {error.message}",
                               code="mapping-refused") from None
        verdict = str(decision.decision)
        if verdict == "allow":
            return True, ""
        reasons = ", ".join(decision.reasons)
        why = "approval required for " if verdict == "ask" else ""
        return False, f"{why}{_described(evaluation)}" + (f" ({reasons})" if reasons else "")

    async def decide(self, request: AuthorizationRequest) -> Outcome:
        for evaluation in request.evaluations:
            allowed, reason = self._allowed(evaluation)
            if not allowed:
                return Outcome(False, reason)
        return Outcome(True)

    async def decide_each(self, evaluations: Sequence[Mapping[str, Any]]
                          ) -> list[bool | None]:
        out: list[bool | None] = []
        for evaluation in evaluations:
            try:
                out.append(self._allowed(evaluation)[0])
            except MappingError:
                out.append(None)
        return out

    async def close(self) -> None:
        return None


# -- over HTTP ------------------------------------------------------------------------------

class HttpDecisionPoint:
    """Asks an AuthZEN 1.0 PDP (`rune serve URL`) over HTTP: the Access Evaluation API for
    one decision, the Access Evaluations API for several. ``token`` (default:
    `RUNE_API_TOKEN`) goes in `Authorization: Bearer`."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 5.0) -> None:
        import httpx2

        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get("RUNE_API_TOKEN")
        headers = {"content-type": "application/json", "accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx2.AsyncClient(headers=headers, timeout=timeout,
                                          follow_redirects=False)

    async def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        import httpx2

        try:
            response = await self._client.post(f"{self.url}{path}", content=json.dumps(body))
        except httpx2.HTTPError as error:
            raise DecisionPointError(f"the decision point at `{self.url}` cannot be "
                                     f"reached: {type(error).__name__}") from None
        content = response.content
        if len(content) > _MAX_RESPONSE:
            raise DecisionPointError("the decision point's answer is too large")
        try:
            answer = json.loads(content) if content else None
        except ValueError:
            answer = None
        if response.status_code == 400 and isinstance(answer, dict):
            problem = answer.get("error")
            message = problem.get("message") if isinstance(problem, dict) else None
            raise MappingError("the decision point refused the request: "
                               f"{message if isinstance(message, str) else 'bad request'}",
                               code="mapping-refused")
        if response.status_code != 200 or answer is None:
            raise DecisionPointError("the decision point answered HTTP "
                                     f"{response.status_code}")
        return answer

    @staticmethod
    def _verdict(answer: Any) -> tuple[bool, str]:
        if not isinstance(answer, dict) or not isinstance(answer.get("decision"), bool):
            raise DecisionPointError("the decision point's answer has no boolean `decision`")
        if answer["decision"]:
            return True, ""
        context = answer.get("context")
        reason = context.get("reason") if isinstance(context, dict) else None
        return False, reason if isinstance(reason, str) else ""

    async def decide(self, request: AuthorizationRequest) -> Outcome:
        if request.envelope == "evaluation":
            allowed, reason = self._verdict(
                await self._post("/access/v1/evaluation", request.body))
            return Outcome(allowed, reason if allowed else
                           _described(request.evaluations[0])
                           + (f" ({reason})" if reason else ""))
        body = {**request.body, "options": {"evaluations_semantic": "deny_on_first_deny"}}
        answer = await self._post("/access/v1/evaluations", body)
        results = answer.get("evaluations") if isinstance(answer, dict) else None
        if not isinstance(results, list) or not 0 < len(results) <= len(request.evaluations):
            raise DecisionPointError("the decision point's answer has no `evaluations` list")
        for i, (evaluation, result) in enumerate(zip(request.evaluations, results,
                                                     strict=False)):
            context = result.get("context") if isinstance(result, dict) else None
            problem = context.get("error") if isinstance(context, dict) else None
            if isinstance(problem, dict):  # the PDP refused this evaluation as ill-formed
                message = problem.get("message")
                raise MappingError(f"the decision point refused evaluation {i}: "
                                   f"{message if isinstance(message, str) else 'bad request'}",
                                   code="mapping-refused")
            allowed, reason = self._verdict(result)
            if not allowed:
                return Outcome(False, _described(evaluation)
                               + (f" ({reason})" if reason else ""))
        # deny_on_first_deny stops at a deny: a short list without one is no answer.
        if len(results) != len(request.evaluations):
            raise DecisionPointError("the decision point answered fewer evaluations than "
                                     "it was asked")
        return Outcome(True)

    async def decide_each(self, evaluations: Sequence[Mapping[str, Any]]
                          ) -> list[bool | None]:
        if not evaluations:
            return []
        answer = await self._post("/access/v1/evaluations", {
            "evaluations": list(evaluations),
            "options": {"evaluations_semantic": "execute_all"}})
        results = answer.get("evaluations") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(evaluations):
            raise DecisionPointError("the decision point's answer has no `evaluations` list "
                                     "of the right length")
        out: list[bool | None] = []
        for result in results:
            context = result.get("context") if isinstance(result, dict) else None
            if isinstance(context, dict) and isinstance(context.get("error"), dict) and \
                    result.get("decision") is False:
                out.append(None)  # refused as ill-formed: not a denial
                continue
            out.append(self._verdict(result)[0])
        return out

    async def close(self) -> None:
        await self._client.aclose()
