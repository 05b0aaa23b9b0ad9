"""The gateway's pipeline, shared by the OpenAI routes and the decision API.

authenticate → rate limit → purpose → classify → decide (recorded) → (caller forwards).
The policy runs on the event loop (tens of microseconds) and the durable audit append is
awaited, not waited for in a thread. Database lookups, and classification of texts longer
than `INLINE_CLASSIFY_CHARS`, run in worker threads so the loop never stalls; a short text is
classified inline, which costs less than the two thread hand-offs (~2 ms for a 64-token
prompt), except a staged classifier's second stage, which goes to a worker thread. A part
that fails refuses the request (fail closed) and, where the audit log still works, the
refusal is recorded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from anyio import to_thread
from starlette.requests import Request

from aupgate.audit import AuditError, refusal_body
from aupgate.classify.backend import Classifier, ClassifyError, InputError, StagedClassifier
from aupgate.decision import Classification, Decision, OrgSnapshot
from aupgate.errors import AupgateError, InvalidInputError, NotFoundError
from aupgate.gateway.auth import Authenticator, AuthFailure, Caller, OidcConfig, OidcVerifier
from aupgate.gateway.cache import TtlCache
from aupgate.gateway.errors import (
    GatewayError,
    bad_request,
    forbidden,
    model_not_found,
    unauthenticated,
    unavailable,
)
from aupgate.gateway.logs import log_event
from aupgate.gateway.metrics import Metrics
from aupgate.gateway.moderation import OutputJudge
from aupgate.gateway.ratelimit import RateLimiter
from aupgate.ids import new_decision_id
from aupgate.runtime import Runtime

T = TypeVar("T")
PURPOSE_HEADER = "x-aup-purpose"
# Longer texts are classified in a worker thread (their windows take tens of milliseconds).
INLINE_CLASSIFY_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class Admission:
    """A caller, their organisation as decided on, and the recorded decision."""

    caller: Caller
    org: OrgSnapshot
    purpose: str
    model: str
    decision: Decision


def oidc_verifier(runtime: Runtime) -> OidcVerifier | None:
    s = runtime.settings
    if not (s.oidc_issuer or s.oidc_jwks_url or s.oidc_jwks_file):
        return None
    if not s.oidc_issuer or not s.oidc_audience:
        raise InvalidInputError("OIDC needs both oidc_issuer and oidc_audience")
    if (s.oidc_jwks_url is None) == (s.oidc_jwks_file is None):
        raise InvalidInputError("OIDC needs exactly one of oidc_jwks_url and oidc_jwks_file")
    return OidcVerifier(
        OidcConfig(
            issuer=s.oidc_issuer,
            audience=s.oidc_audience,
            jwks_url=s.oidc_jwks_url,
            jwks_file=s.oidc_jwks_file,
            org_claim=s.oidc_org_claim,
            purposes_claim=s.oidc_purposes_claim,
            models_claim=s.oidc_models_claim,
        )
    )


class Gateway:
    """State shared by every request of one app: the runtime's parts plus the gateway's own."""

    def __init__(self, runtime: Runtime, classifier: Classifier | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._classifier = classifier
        self.metrics = Metrics()
        self.limiter = RateLimiter(self.settings.rate_limit, self.settings.redis_url)
        self.authenticator = Authenticator(runtime.registry, oidc_verifier(runtime))
        self._callers: TtlCache[Caller] = TtlCache(self.settings.auth_cache_s)
        self._orgs: TtlCache[OrgSnapshot] = TtlCache(self.settings.auth_cache_s)

    @cached_property
    def classifier(self) -> Classifier:
        return self._classifier if self._classifier is not None else self.runtime.classifier

    @cached_property
    def staged(self) -> StagedClassifier | None:
        """The classifier, if it runs in stages (checked once: a Protocol isinstance is slow)."""
        return self.classifier if isinstance(self.classifier, StagedClassifier) else None

    async def run(self, stage: str, func: Callable[..., T], *args: Any) -> T:
        """Run a synchronous part in a worker thread, timed as `stage`."""
        with self.metrics.stage(stage):
            return await to_thread.run_sync(func, *args)

    # -- who --------------------------------------------------------------------------------

    async def authenticate(self, request: Request) -> Caller:
        authorization = request.headers.get("authorization") or ""
        # Keyed by a hash, so no credential is kept in memory longer than the request.
        cache_key = hashlib.sha256(authorization.encode()).hexdigest()
        caller = self._callers.get(cache_key)
        if caller is None:
            try:
                caller = await self.run(
                    "authenticate",
                    self.authenticator.authenticate,
                    authorization,
                    self.runtime.now(),
                )
            except AuthFailure as exc:
                raise unauthenticated(str(exc)) from None
            self._callers.put(cache_key, caller)
        await self.limiter.check(caller.subject)
        return caller

    async def org(self, caller: Caller) -> OrgSnapshot:
        cached = self._orgs.get(caller.org_ref)
        if cached is not None:
            return cached
        try:
            snapshot = await self.run(
                "organisation", self.runtime.registry.snapshot, caller.org_ref
            )
        except NotFoundError:
            raise forbidden(
                f"organisation {caller.org_ref!r} named by your credential is not registered; "
                f"ask your administrator to register it",
                "unknown_organisation",
            ) from None
        return self._orgs.put(caller.org_ref, snapshot)

    # -- why --------------------------------------------------------------------------------

    def purpose(self, caller: Caller, request: Request, declared: str | None) -> str:
        header = request.headers.get(PURPOSE_HEADER)
        if header and declared and header != declared:
            raise bad_request(
                f"X-AUP-Purpose ({header!r}) and metadata.aup_purpose ({declared!r}) disagree; "
                f"send one",
                "metadata",
            )
        purpose = header or declared or caller.default_purpose
        allowed = caller.allowed_purposes
        if not purpose:
            hint = f" (your credential allows: {', '.join(allowed)})" if allowed else ""
            raise bad_request(
                f"declare a purpose with the X-AUP-Purpose header or metadata.aup_purpose{hint}",
                "metadata",
            )
        try:
            self.runtime.pipeline.check_purpose(purpose)
        except InvalidInputError as exc:
            raise bad_request(str(exc), "metadata") from None
        if allowed is not None and purpose not in allowed:
            raise forbidden(
                f"your credential may not declare the purpose {purpose!r}; it allows: "
                f"{', '.join(allowed)}. Ask your administrator for a key with that purpose.",
                "purpose_not_allowed",
                "metadata",
            )
        return purpose

    def check_model(self, caller: Caller, model: str) -> None:
        if caller.allowed_models is not None and model not in caller.allowed_models:
            raise model_not_found(model, caller.allowed_models)

    # -- decide -----------------------------------------------------------------------------

    async def classify_text(self, text: str) -> Classification:
        """Classify a short text inline (for a staged classifier, its first stage only; the
        second runs in a worker thread), a long one in a worker thread."""
        if len(text) > INLINE_CLASSIFY_CHARS:
            return await to_thread.run_sync(self.classifier.classify, text)
        if self.staged is not None:
            result = self.staged.classify_in_stages(text)
            if isinstance(result, Classification):
                return result
            return await to_thread.run_sync(result)
        return self.classifier.classify(text)

    async def admit(
        self,
        caller: Caller,
        purpose: str,
        model: str,
        *,
        text: str | None = None,
        classification: Classification | None = None,
        route: str,
    ) -> Admission:
        """Classify (unless given), decide and record: the verdict, or a refusal if a part
        failed. The decision is durable before this returns."""
        try:
            org = await self.org(caller)
            if classification is None:
                assert text is not None
                with self.metrics.stage("classify"):
                    try:
                        classification = await self.classify_text(text)
                    except InputError as exc:
                        raise bad_request(
                            f"the conversation cannot be classified: {exc}", "messages"
                        ) from None
            with self.metrics.stage("decide"):
                decision = await self.runtime.pipeline.decide_async(
                    org, purpose, model, classification, key_id=caller.key_id, prompt=text
                )
            return Admission(caller, org, purpose, model, decision)
        except GatewayError:
            raise
        except (ClassifyError, AuditError, AupgateError) as exc:
            reason = "classifier" if isinstance(exc, ClassifyError) else "decision_record"
            await self.record_refusal(caller, route, reason, type(exc).__name__)
            what = "classified" if reason == "classifier" else "decided and recorded"
            raise unavailable(
                f"the request could not be {what}, so it was not forwarded; retry later",
                f"aup_{reason}_unavailable",
            ) from None

    def output_judge(self, admission: Admission) -> OutputJudge:
        async def decide(classification: Classification, text: str) -> Decision:
            return await self.runtime.pipeline.decide_async(
                admission.org,
                admission.purpose,
                admission.model,
                classification,
                key_id=admission.caller.key_id,
                prompt=text,
            )

        return OutputJudge(self.classify_text, decide, self.runtime.policy.thresholds())

    async def record_refusal(
        self, caller: Caller | None, route: str, reason: str, detail: str
    ) -> str | None:
        """Record a refusal that was not a policy decision; None if even that fails."""
        refusal_id = new_decision_id()
        context = {
            "route": route,
            "key_id": caller.key_id if caller else None,
            "subject": caller.subject if caller else None,
            "org": caller.org_ref if caller else None,
        }
        body = refusal_body(refusal_id, reason, detail, context, None)
        try:
            await self.runtime.audit.append_async("refusal", body)
        except Exception as exc:  # the log itself may be what failed; say so in the logs
            log_event("refusal.unrecorded", logging.ERROR, reason=reason, error=type(exc).__name__)
            return None
        return refusal_id
