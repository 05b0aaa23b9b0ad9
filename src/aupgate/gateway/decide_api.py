"""`POST /v1/decide`: aupgate as the policy decision point of another gateway.

Body: `purpose`, optional `model`, and either `text` (classified here) or `categories` (given
by the caller; `[]` means general use), plus optionally `org`. Without `org` the decision is
about the caller's own credential (its organisation and allowed purposes); naming another
organisation needs a key listed in `decide_service_keys`. The answer is the Decision JSON with
status 200 whatever the outcome: the caller enforces it. Every decision is recorded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aupgate.decision import Classification
from aupgate.errors import InvalidInputError
from aupgate.gateway.errors import bad_request, forbidden
from aupgate.gateway.requests import read_json
from aupgate.gateway.service import Gateway

ROUTE = "/v1/decide"
FIELDS = frozenset({"org", "purpose", "model", "text", "categories"})


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise bad_request(f"'{name}' must be a non-empty string", name)
    return value


class DecideRoute:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def routes(self) -> list[Route]:
        return [Route(ROUTE, self.decide, methods=["POST"])]

    async def decide(self, request: Request) -> Response:
        caller = await self.gw.authenticate(request)
        body = await read_json(request, self.gw.settings.max_body_bytes)
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise bad_request(f"unknown field(s) {', '.join(unknown)}; use {sorted(FIELDS)}")
        org = _optional_str(body, "org")
        if org is not None and org != caller.org_ref:
            if caller.key_id not in self.gw.settings.decide_service_keys:
                raise forbidden(
                    "only service keys (setting decide_service_keys) may ask for decisions about "
                    "another organisation; omit 'org' to decide for your own credential",
                    "decide_not_permitted",
                    "org",
                )
            # A service decides on the organisation's behalf, within the pack's purposes.
            caller = replace(caller, org_ref=org, allowed_purposes=None, default_purpose=None)
        model = _optional_str(body, "model") or self.gw.settings.default_model
        if org is None:
            self.gw.check_model(caller, model)
        purpose = self.gw.purpose(caller, request, _optional_str(body, "purpose"))
        text, classification = self._what(body)
        admission = await self.gw.admit(
            caller, purpose, model, text=text, classification=classification, route=ROUTE
        )
        decision = admission.decision
        self.gw.metrics.request(ROUTE, decision.outcome, decision.considered)
        return JSONResponse(decision.to_json())

    def _what(self, body: dict[str, Any]) -> tuple[str | None, Classification | None]:
        has_text, has_categories = "text" in body, "categories" in body
        if has_text == has_categories:
            raise bad_request("give exactly one of 'text' and 'categories'")
        if has_text:
            text = body["text"]
            if not isinstance(text, str):
                raise bad_request("'text' must be a string", "text")
            return text, None
        categories = body["categories"]
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise bad_request("'categories' must be a list of category ids", "categories")
        try:
            checked = self.gw.runtime.pipeline.check_categories(categories)
        except InvalidInputError as exc:
            raise bad_request(str(exc), "categories") from None
        return None, Classification.declared(checked)
