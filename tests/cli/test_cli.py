"""The command line end to end on a real SQLite home: the 2024 case and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aupgate.cli import app

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
CSL_SAMPLE = REPO / "examples" / "csl-entity-list-sample.csv"


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(app, ["--home", str(self.home), *args])
        assert result.exit_code == code, (result.exit_code, result.output)
        return result.output

    def json(self, *args: str, code: int = 0) -> object:
        return json.loads(self(*args, "--json", code=code))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


@pytest.fixture
def case_2024(cli: Cli) -> Cli:
    cli(
        "org",
        "add",
        "Lockheed Martin",
        "--country",
        "US",
        "--sector",
        "defense-contractor",
        "--vetted",
    )
    cli(
        "grant",
        "add",
        "Lockheed Martin",
        "--exception",
        "national-security",
        "--expires",
        "2099-11-04",
        "--by",
        "licensing office",
        "--why",
        "national-security partner",
    )
    cli(
        "org",
        "add",
        "UK Ministry of Defence",
        "--country",
        "GB",
        "--sector",
        "government",
        "--vetted",
        "--alias",
        "MOD",
    )
    cli(
        "grant",
        "add",
        "MOD",
        "--exception",
        "national-security",
        "--expires",
        "2099-01-01",
        "--by",
        "licensing office",
        "--why",
        "Five Eyes",
    )
    cli(
        "org",
        "add",
        "Ministère des Armées",
        "--country",
        "FR",
        "--sector",
        "government",
        "--vetted",
    )
    cli("org", "add", "Tiny Start-up", "--country", "US", "--sector", "commercial")
    cli(
        "org", "add", "Natl. Univ. of Defence Technology", "--country", "CN", "--sector", "academic"
    )
    return cli


def outcome(cli: Cli, org: str, purpose: str, category: str | None, code: int) -> dict[str, object]:
    args = ["decide", "--org", org, "--purpose", purpose]
    if category:
        args += ["--category", category]
    data = cli.json(*args, code=code)
    assert isinstance(data, dict)
    return data


def rule_ids(decision: dict[str, object]) -> list[str]:
    rules = decision["rules"]
    assert isinstance(rules, list)
    return [r["policy_id"] for r in rules]


def test_the_2024_case(case_2024: Cli) -> None:
    cli = case_2024
    d = outcome(cli, "Lockheed Martin", "national-security", "military-warfare", 0)
    assert d["outcome"] == "allow" and rule_ids(d) == ["exception-national-security"]
    d = outcome(cli, "Lockheed Martin", "marketing", "military-warfare", 1)
    assert rule_ids(d) == ["aup-2.1-military-nuclear-espionage-itar"]
    assert "§2.1" in d["rules"][0]["citation"]  # type: ignore[index]
    d = outcome(cli, "MOD", "national-security", "espionage", 0)
    assert d["outcome"] == "allow"
    outcome(cli, "Ministère des Armées", "national-security", "military-warfare", 1)
    outcome(cli, "Lockheed Martin", "national-security", "child-safety,military-warfare", 1)
    outcome(cli, "Tiny Start-up", "software-development", None, 0)
    text = cli(
        "decide",
        "--org",
        "Lockheed Martin",
        "--purpose",
        "national-security",
        "--category",
        "military-warfare",
    )
    assert "ALLOW" in text and "exception-national-security" in text


def test_screening_hit_under_a_spelling_variant_denies_everything(case_2024: Cli) -> None:
    cli = case_2024
    out = cli("screen", "load", str(CSL_SAMPLE))
    assert "Natl. Univ. of Defence Technology" in out
    d = outcome(cli, "Natl. Univ. of Defence Technology", "research", None, 1)
    assert rule_ids(d) == ["sanctions-screening-hit"]
    shown = cli.json("org", "show", "Natl. Univ. of Defence Technology")
    assert isinstance(shown, dict)
    assert shown["screening"] == "hit"
    assert shown["screening_hits"][0]["entry_name"] == "National University of Defense Technology"
    # A false positive can be cleared, with a recorded justification.
    cli(
        "screen",
        "clear",
        "Natl. Univ. of Defence Technology",
        "--by",
        "compliance",
        "--why",
        "test only",
    )
    outcome(cli, "Natl. Univ. of Defence Technology", "research", None, 0)


@pytest.mark.skipif(not (SHARED_DATA / "ofac-sdn").is_dir(), reason="shared data not present")
def test_sdn_list_loads_and_screens_new_orgs(cli: Cli) -> None:
    cli("screen", "load", str(SHARED_DATA / "ofac-sdn" / "sdn.csv"))
    out = cli(
        "org",
        "add",
        "Islamic Revolutionary Guard Corps",
        "--country",
        "IR",
        "--sector",
        "government",
    )
    assert "screening hit" in out
    lists = cli.json("screen", "lists")
    assert isinstance(lists, list) and lists[0]["entries"] > 10_000


def test_batch_decisions_with_line_errors(case_2024: Cli, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "id": "a",
                        "org": "Lockheed Martin",
                        "purpose": "national-security",
                        "categories": ["military-warfare"],
                    }
                ),
                "{not json",
                json.dumps({"id": "c", "org": "Nobody", "purpose": "general"}),
                json.dumps(
                    {
                        "id": "d",
                        "org": "Tiny Start-up",
                        "purpose": "general",
                        "scores": {"military-warfare": 0.6},
                    }
                ),
                json.dumps(
                    {
                        "id": "e",
                        "org": "Tiny Start-up",
                        "purpose": "general",
                        "categories": ["no-such-category"],
                    }
                ),
            ]
        )
        + "\n"
    )
    out = tmp_path / "decisions.jsonl"
    case_2024("decide", "--input", str(requests), "--output", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("id") for r in rows] == ["a", None, "c", "d", "e"]
    assert rows[0]["decision"]["outcome"] == "allow"
    assert rows[1]["line"] == 2 and "invalid JSON" in rows[1]["error"]
    assert "unknown organisation" in rows[2]["error"]
    assert rows[3]["decision"]["outcome"] == "review"
    assert "unknown category" in rows[4]["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decide", "--org", "Nobody", "--purpose", "general"], "unknown organisation"),
        (["decide", "--org", "Tiny Start-up", "--purpose", "plunder"], "unknown purpose"),
        (
            ["decide", "--org", "Tiny Start-up", "--purpose", "general", "--category", "x"],
            "unknown category",
        ),
        (["org", "add", "X", "--country", "UK", "--sector", "government"], "invalid country"),
        (
            [
                "grant",
                "add",
                "Tiny Start-up",
                "--exception",
                "world-peace",
                "--expires",
                "2099-01-01",
                "--by",
                "a",
                "--why",
                "b",
            ],
            "knows no exception",
        ),
        (
            [
                "grant",
                "add",
                "Tiny Start-up",
                "--exception",
                "national-security",
                "--expires",
                "tomorrow",
                "--by",
                "a",
                "--why",
                "b",
            ],
            "invalid expiry",
        ),
        (["policy", "validate", "no-such-pack"], "no pack named"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    case_2024: Cli, args: list[str], message: str
) -> None:
    before = case_2024("org", "list", "--json")
    grants = case_2024("grant", "list", "--json")
    out = case_2024(*args, code=2 if args[:2] != ["policy", "validate"] else 1)
    assert message in out and "Traceback" not in out
    assert case_2024("org", "list", "--json") == before
    assert case_2024("grant", "list", "--json") == grants


def test_malformed_screening_file(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("just,some\ncolumns,here\n")
    out = cli("screen", "load", str(bad), code=2)
    assert out.startswith("error: ") and "line 1" in out
    assert cli.json("screen", "lists") == []


def test_database_that_cannot_be_opened(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(app, ["--home", str(blocker / "home"), "org", "list"])
    assert result.exit_code == 2
    assert "cannot open database" in result.output


def test_policy_commands(cli: Cli) -> None:
    assert "all covered" in cli("policy", "validate")
    assert "0 failed" in cli("policy", "test", "llama-aup-2024-07")
    shown = cli.json("policy", "show")
    assert isinstance(shown, dict) and len(shown["categories"]) == 24
    diff = cli.json(
        "policy", "diff", "llama-aup-2024-07", "llama-aup-2024-11", "--at", "2025-01-01"
    )
    assert isinstance(diff, dict)
    changed = {(c["category"], c["purpose"], c["before"], c["after"]) for c in diff["changes"]}
    assert changed == {
        (c, "national-security", "deny", "allow")
        for c in ("military-warfare", "nuclear", "espionage", "export-controlled")
    }
    assert all("five-eyes" not in p for c in diff["changes"] for p in c["principals"])


def test_admin_changes_and_decisions_are_in_the_audit_log(case_2024: Cli) -> None:
    cli = case_2024
    allowed = outcome(cli, "Lockheed Martin", "national-security", "military-warfare", 0)
    assert "unknown organisation" in cli("decide", "--org", "Nobody", "--purpose", "x", code=2)
    grants = cli.json("grant", "list", "--org", "Lockheed Martin")
    assert isinstance(grants, list) and len(grants) == 1
    cli("grant", "revoke", grants[0]["id"], "--by", "licensing office", "--why", "ended")
    denied = outcome(cli, "Lockheed Martin", "national-security", "military-warfare", 1)

    tail = [json.loads(line) for line in cli("audit", "tail", "--json", "-n", "50").splitlines()]
    assert [e["index"] for e in tail] == list(range(len(tail)))
    actions = [e["record"]["action"] for e in tail if e["type"] == "admin"]
    assert actions.count("org.added") == 5 and actions.count("grant.issued") == 2
    assert actions.count("grant.revoked") == 1 and actions.count("pack.activated") == 1
    decisions = [(e["index"], e["record"]) for e in tail if e["type"] == "decision"]
    assert [r["decision_id"] for _, r in decisions] == [
        allowed["decision_id"],
        denied["decision_id"],
    ]
    assert [r["outcome"] for _, r in decisions] == ["allow", "deny"]
    revoked_at = next(e["index"] for e in tail if e["record"].get("action") == "grant.revoked")
    assert decisions[0][0] < revoked_at < decisions[1][0]
    shown = json.loads(cli("audit", "show", str(denied["decision_id"])))
    assert shown["record"]["outcome"] == "deny"
