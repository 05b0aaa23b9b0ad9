"""OpenAI-style error envelopes: the right status, a message that says what to do, no internals.

Official clients map by HTTP status (401, 403, 404, 413, 429, 5xx), so the status carries the
meaning; `type`/`code` let a program branch, and refusals carry the decision as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from aupgate.decision import Decision
from aupgate.errors import NotFoundError
from aupgate.policy.pack import Pack


class GatewayError(Exception):
    """A request the gateway refuses; becomes an OpenAI error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "param": self.param,
            "code": self.code,
            **self.extra,
        }
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, code="invalid_request", param=param)


def unauthenticated(message: str) -> GatewayError:
    return GatewayError(
        401,
        message,
        type="authentication_error",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def forbidden(message: str, code: str, param: str | None = None) -> GatewayError:
    return GatewayError(403, message, type="permission_error", code=code, param=param)


def model_not_found(model: str, allowed: tuple[str, ...] | None) -> GatewayError:
    hint = f"; your credential allows: {', '.join(allowed)}" if allowed else ""
    return GatewayError(
        404,
        f"the model {model!r} does not exist or your credential may not use it{hint}",
        code="model_not_found",
        param="model",
    )


def unavailable(message: str, code: str) -> GatewayError:
    """A part the gateway needs failed; the request is refused rather than let through."""
    return GatewayError(503, message, type="server_error", code=code)


def decision_summary(decision: Decision) -> dict[str, Any]:
    """The part of a Decision a caller needs to understand (and quote) a refusal."""
    scores = {s.category: round(s.score, 4) for s in decision.classification.scores}
    return {
        "decision_id": decision.decision_id,
        "outcome": decision.outcome,
        "categories": [
            {"category": c, "score": scores.get(c)}
            for c in (decision.denied_categories or decision.considered)
        ],
        "rules": [r.to_json() for r in decision.rules],
        "pack": decision.pack.to_json(),
    }


def _needed_grant(decision: Decision, pack: Pack) -> str:
    """Which exception would lift the refusal, if any category of it has one."""
    scopes = []
    for category in decision.denied_categories:
        try:
            scope = pack.category(category).exception_scope
        except NotFoundError:  # a category the pack does not know has no exception
            scope = None
        if scope:
            scopes.append(scope)
    if not scopes:
        return "No exception in this policy covers it."
    names = ", ".join(dict.fromkeys(scopes))
    return (
        f"It is permitted only to organisations holding the {names} exception that meet its "
        f"conditions and declare a matching purpose (X-AUP-Purpose); ask your administrator."
    )


def refusal(decision: Decision, pack: Pack, *, stage: str = "prompt") -> GatewayError:
    """The 403 for a deny or review outcome, with the decision as data."""
    categories = ", ".join(decision.denied_categories) or "general"
    sections = "; ".join(dict.fromkeys(r.citation for r in decision.rules if r.effect != "permit"))
    extra = decision_summary(decision)
    if decision.outcome == "review":
        extra["review_id"] = decision.decision_id
        return GatewayError(
            403,
            f"This {stage} needs human review under the acceptable-use policy (categories: "
            f"{categories}). Review id {decision.decision_id}; resubmit once a reviewer has "
            f"approved it, or rephrase.",
            type="policy_violation",
            code="aup_review_required",
            extra=extra,
        )
    return GatewayError(
        403,
        f"This {stage} was refused under the acceptable-use policy for: {categories}. "
        f"{sections}. {_needed_grant(decision, pack)} Decision {decision.decision_id}.",
        type="policy_violation",
        code="aup_denied",
        extra=extra,
    )
