"""The use categories the classifier scores, with the AUP sections they come from.

"benign" is not a category: a benign request is one whose every score is low. `PROHIBITED` labels
training rows known to be prohibited whose category the source does not say (AdvBench, TDC).
"""

from __future__ import annotations

from typing import Final

# id -> AUP section(s) (Llama 3.x AUP numbering)
SECTIONS: Final[dict[str, str]] = {
    "military-warfare": "2.1",
    "nuclear": "2.1",
    "espionage": "2.1",
    "export-controlled": "2.1",
    "cbrn-weapons": "2.1, 2.2",
    "weapons": "2.2",
    "illegal-drugs": "2.3",
    "critical-infrastructure": "2.4",
    "self-harm": "2.5",
    "violence": "1.1.1, 2.6",
    "child-safety": "1.1.2, 1.1.4",
    "sexual-exploitation": "1.1.3, 1.1.5",
    "criminal-activity": "1.1.6",
    "harassment": "1.2",
    "discrimination": "1.3",
    "unlicensed-practice": "1.4",
    "privacy": "1.5",
    "ip-infringement": "1.6",
    "malicious-code": "1.7",
    "safety-circumvention": "1.8",
    "fraud-disinformation": "3.1",
    "defamation": "3.2",
    "spam": "3.3, 3.6",
    "impersonation": "3.4",
}
CATEGORIES: Final[tuple[str, ...]] = tuple(SECTIONS)
# The national-security family (AUP 2.1 proper): the categories the 2024 exception is about.
FAMILY_2_1: Final[frozenset[str]] = frozenset(
    {"military-warfare", "nuclear", "espionage", "export-controlled"}
)
BENIGN: Final = "benign"
PROHIBITED: Final = "prohibited"
LABELS: Final[frozenset[str]] = frozenset({*CATEGORIES, BENIGN, PROHIBITED})
