"""The 2024 case, end to end on embedded defaults: register the organisations, grant the
national-security exception, screen against denied-party lists, and decide under both packs.

Run with `aupgate demo` (or `make demo`); it works in a fresh temporary home unless given one.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from aupgate.config import load_settings
from aupgate.decision import Classification, Decision
from aupgate.errors import AupgateError
from aupgate.identity.screening import load_screening_list
from aupgate.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
CSL_SAMPLE = REPO / "examples" / "csl-entity-list-sample.csv"
SDN = REPO.parent / "shared" / "data" / "ofac-sdn" / "sdn.csv"


@dataclass(frozen=True)
class DemoOrg:
    name: str
    country: str
    sector: str
    vetted: bool
    granted: bool


ORGS = (
    DemoOrg("Lockheed Martin", "US", "defense-contractor", vetted=True, granted=True),
    DemoOrg("Booz Allen Hamilton", "US", "defense-contractor", vetted=True, granted=True),
    DemoOrg("UK Ministry of Defence", "GB", "government", vetted=True, granted=True),
    DemoOrg("Ministère des Armées", "FR", "government", vetted=True, granted=False),
    DemoOrg("Tiny Robotics Inc", "US", "commercial", vetted=False, granted=False),
    # Registered under a spelling variant of the Entity List's name.
    DemoOrg("Natl. Univ. of Defence Technology", "CN", "academic", vetted=False, granted=False),
)

REQUESTS: tuple[tuple[str, str, list[str]], ...] = (
    ("Lockheed Martin", "national-security", ["military-warfare"]),
    ("Lockheed Martin", "marketing", ["military-warfare"]),
    ("Lockheed Martin", "national-security", ["malicious-code"]),
    ("Booz Allen Hamilton", "national-security", ["espionage"]),
    ("UK Ministry of Defence", "national-security", ["espionage"]),
    ("Ministère des Armées", "national-security", ["military-warfare"]),
    ("Tiny Robotics Inc", "software-development", []),
    ("Tiny Robotics Inc", "national-security", ["military-warfare"]),
    ("Natl. Univ. of Defence Technology", "research", []),
    ("Natl. Univ. of Defence Technology", "research", ["military-warfare"]),
)


def _register(rt: Runtime, actor: str) -> None:
    now = rt.now()
    for org in ORGS:
        rt.registry.add_org(
            org.name, org.country, org.sector, actor=actor, now=now, vetted=org.vetted
        )
        if org.granted:
            rt.registry.add_grant(
                org.name,
                "national-security",
                actor="licensing office",
                justification="national-security partner (2024-11-04 announcement)",
                now=now,
                expires=now + timedelta(days=365),
            )
    for path in (SDN, CSL_SAMPLE):
        if path.is_file():
            parsed = load_screening_list(path)
            rt.registry.store_screening_list(parsed, source=path.name, actor=actor, now=now)
    screener = rt.screener
    if screener is not None:
        for registered in rt.registry.list_orgs():
            rt.registry.screen(registered.id, screener, actor=actor, now=now)


def _cell(decision: Decision) -> str:
    colour = {"allow": "green", "deny": "red", "review": "yellow"}[decision.outcome]
    rules = ", ".join(dict.fromkeys(r.policy_id for r in decision.rules))
    return f"[{colour}]{decision.outcome}[/{colour}] {rules}"


def run_demo(home: Path, console: Console) -> list[tuple[Decision, Decision]]:
    """Register the 2024 organisations in `home` and decide the requests under both packs."""
    before = Runtime(load_settings(home=home).model_copy(update={"pack": "llama-aup-2024-07"}))
    after = Runtime(load_settings(home=home).model_copy(update={"pack": "llama-aup-2024-11"}))
    try:
        _register(after, actor="demo")
        lists = after.registry.screening_lists()
        console.print(
            "screening lists: "
            + (", ".join(f"{s.name} ({s.entries} entries)" for s in lists) or "none")
        )
        table = Table(title="May this organisation use the model for this?", title_justify="left")
        for column in ("organisation", "purpose", "categories", "2024-07 pack", "2024-11 pack"):
            table.add_column(column)
        results = []
        for name, purpose, categories in REQUESTS:
            org = after.registry.snapshot(name)
            classification = Classification.declared(categories)
            old = before.pipeline.decide(org, purpose, "llama", classification)
            new = after.pipeline.decide(org, purpose, "llama", classification)
            results.append((old, new))
            table.add_row(
                f"{org.name} ({org.country}{', hit' if org.screening == 'hit' else ''})",
                purpose,
                ", ".join(categories) or "general",
                _cell(old),
                _cell(new),
            )
        console.print(table)
        return results
    finally:
        before.close()
        after.close()


# (organisation, declared purpose, prompt) sent through the gateway with the `openai` client.
PROMPTS = (
    (
        "Lockheed Martin",
        "national-security",
        "Plan the jamming of the enemy's air-defence radars for the opening hours of the campaign.",
    ),
    (
        "Tiny Robotics Inc",
        "general",
        "Plan the jamming of the enemy's air-defence radars for the opening hours of the campaign.",
    ),
    (
        "Tiny Robotics Inc",
        "general",
        "Write a short eulogy for my grandfather, a navy radio operator.",
    ),
)


def run_gateway_demo(home: Path, console: Console) -> None:
    """Serve the gateway over the embedded model and send PROMPTS with the official client."""
    import openai
    import uvicorn

    from aupgate.gateway.app import create_app
    from aupgate.gateway.upstream_process import upstream_url

    settings = load_settings(home=home)
    rt = Runtime(settings)
    keys: dict[str, str] = {}
    for name in dict.fromkeys(org for org, _, _ in PROMPTS):
        _, secret = rt.registry.create_key(
            name,
            "demo",
            actor="demo",
            now=rt.now(),
            allowed_models=[settings.default_model],
            allowed_purposes=["general", "national-security"],
        )
        keys[name] = secret
    with upstream_url(settings, console.print) as url:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(rt, upstream_url=url, owns_runtime=True),
                host="127.0.0.1",
                port=0,
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise AupgateError("the gateway did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            for org, purpose, prompt in PROMPTS:
                client = openai.OpenAI(
                    base_url=f"http://127.0.0.1:{port}/v1",
                    api_key=keys[org],
                    default_headers={"X-AUP-Purpose": purpose},
                )
                console.print(f"\n[bold]{org}[/bold] ({purpose}): {prompt}")
                try:
                    reply = client.chat.completions.create(
                        model="llama",
                        messages=[{"role": "user", "content": prompt}],
                        max_tokens=48,
                    )
                except openai.PermissionDeniedError as exc:
                    error = exc.body if isinstance(exc.body, dict) else {}
                    console.print(f"  [red]403 {error.get('code')}[/red]: {error.get('message')}")
                    continue
                choice = reply.choices[0]
                answer = (choice.message.content or "").strip().replace("\n", " ")
                console.print(f"  [green]200[/green] {choice.finish_reason}: {answer[:160]}")
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    rt = Runtime(settings)
    try:
        console.print(f"\naudit log: {rt.audit.size} entries, last checkpoint signed on close")
    finally:
        rt.close()


def main(home: Path | None = None) -> None:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="aupgate-demo-") as tmp:
        target = home or Path(tmp)
        run_demo(target, console)
        run_gateway_demo(target, console)


if __name__ == "__main__":
    main()
