"""How the public data sets' own labels map onto our taxonomy (documented in data/datasheet.md).

Pure functions. Generic source labels ("illegal", "Non-violent crimes", unlabelled AdvBench rows)
are routed by keywords where the keywords are unambiguous; otherwise a row keeps the source's
coarse mapping, or becomes `prohibited` (category unknown: it trains only the prohibited-vs-benign
head).
"""

from __future__ import annotations

import re
from typing import Final

from aupgate.classify.taxonomy import BENIGN, PROHIBITED

# First match wins; ordered from the most specific.
_WORDS: Final[tuple[tuple[str, str], ...]] = (
    ("child-safety", r"\b(child|children|minor|minors|underage|kid|kids|teen|preteen)\b"
                     r".*\b(sex|sexual|nude|porn|groom)|\b(groom|grooming|csam|child porn)"),
    ("nuclear", r"\b(nuclear|uranium|plutonium|enrichment|centrifuge|fissile|dirty bomb)\b"),
    ("cbrn-weapons", r"\b(sarin|vx|nerve agent|anthrax|ricin|botulinum|smallpox|chemical weapon"
                     r"|biological weapon|bioweapon|pathogen|toxin|mustard gas|chlorine gas"
                     r"|phosgene|tabun)\b"),
    ("weapons", r"\b(gun|guns|firearm|rifle|pistol|ammunition|ammo|explosive|explosives|bomb|bombs"
                r"|grenade|ghost gun|silencer|suppressor|full[- ]auto|automatic weapon|pipe bomb"
                r"|ied|molotov|detonat\w*)\b"),
    ("illegal-drugs", r"\b(drug|drugs|cocaine|heroin|meth|methamphetamine|fentanyl|lsd|mdma"
                      r"|ecstasy|opioid|marijuana|cannabis|crack)\b"),
    ("self-harm", r"\b(suicide|self[- ]harm|kill myself|cutting myself|anorexi\w*|bulimi\w*"
                  r"|starve myself)\b"),
    ("malicious-code", r"\b(malware|ransomware|virus|keylogger|botnet|ddos|exploit|hack|hacking"
                       r"|hacker|phishing|sql injection|trojan|rootkit|backdoor|password cracking"
                       r"|zero[- ]day)\b"),
    ("sexual-exploitation", r"\b(trafficking|prostitut\w*|sex work|sexual(ly)? (assault|abuse)"
                            r"|rape|revenge porn)\b"),
    ("spam", r"\b(spam|fake reviews?|bot farm|fake followers|fake accounts?)\b"),
    ("impersonation", r"\b(impersonat\w*|pretend(ing)? to be)\b"),
    ("privacy", r"\b(home address|phone number|doxx?\w*|social security number"
                r"|personal information|track (someone|her|him|my)|spy on)\b"),
    ("fraud-disinformation", r"\b(fraud|scam|counterfeit|fake news|disinformation|misinformation"
                             r"|propaganda|forg(e|ery|ed))\b"),
    ("defamation", r"\b(defam\w*|libel\w*|slander\w*)\b"),
    ("harassment", r"\b(harass\w*|bully\w*|cyberbully\w*|threaten\w*|stalk\w*|racist"
                   r"|hate speech|slur)\b"),
    ("violence", r"\b(kill|murder|assassinat\w*|torture|terror\w*|attack|massacre|shoot|stab"
                 r"|poison|hurt)\b"),
    ("criminal-activity", r"\b(steal|theft|launder\w*|smuggl\w*|shoplift\w*|burglar\w*"
                          r"|evade (taxes|police|law)|tax evasion|bribe\w*|illegal\w*)\b"),
)  # fmt: skip
_KEYWORDS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (category, re.compile(pattern, re.IGNORECASE)) for category, pattern in _WORDS
)


def route(text: str, default: str = PROHIBITED) -> str:
    """The category that the keywords of `text` name, or `default`."""
    for category, pattern in _KEYWORDS:
        if pattern.search(text):
            return category
    return default


HARMBENCH: Final[dict[str, str | None]] = {
    "cybercrime_intrusion": "malicious-code",
    "chemical_biological": "cbrn-weapons",
    "misinformation_disinformation": "fraud-disinformation",
    "harassment_bullying": "harassment",
    "copyright": "ip-infringement",
    "illegal": None,  # routed by keyword, else criminal-activity
    "harmful": None,  # routed by keyword, else prohibited
}


def harmbench(semantic: str, text: str) -> str:
    if semantic == "chemical_biological":
        # The set mixes drug synthesis into chemical_biological.
        drug = route(text, "cbrn-weapons")
        return drug if drug == "illegal-drugs" else "cbrn-weapons"
    mapped = HARMBENCH[semantic]
    if mapped is not None:
        return mapped
    return route(text, "criminal-activity" if semantic == "illegal" else PROHIBITED)


STRONGREJECT: Final[dict[str, str | None]] = {
    "Disinformation and deception": "fraud-disinformation",
    "Hate, harassment and discrimination": "harassment",
    "Sexual content": "sexual-exploitation",
    "Violence": None,  # keyword (weapons) else violence
    "Illegal goods and services": None,  # keyword else criminal-activity
    "Non-violent crimes": None,  # keyword else criminal-activity
}


def strongreject(category: str, text: str) -> str:
    mapped = STRONGREJECT[category]
    if mapped is not None:
        return "child-safety" if route(text) == "child-safety" else mapped
    fallback = "violence" if category == "Violence" else "criminal-activity"
    routed = route(text, fallback)
    # Keep the keyword router inside what the source category can mean.
    allowed = {
        "Violence": {"violence", "weapons", "cbrn-weapons", "nuclear", "self-harm"},
        "Illegal goods and services": {"weapons", "illegal-drugs", "cbrn-weapons",
                                       "sexual-exploitation", "child-safety", "criminal-activity"},
        "Non-violent crimes": {"malicious-code", "fraud-disinformation", "privacy",
                               "criminal-activity", "illegal-drugs", "spam", "impersonation"},
    }[category]  # fmt: skip
    return routed if routed in allowed else fallback


AILUMINATE: Final[dict[str, str]] = {
    "vcr": "violence",
    "ncr": "criminal-activity",
    "src": "sexual-exploitation",
    "cse": "child-safety",
    "ssh": "self-harm",
    "iwp": "cbrn-weapons",
    "hte": "harassment",
    "prv": "privacy",
    "ipv": "ip-infringement",
    "dfm": "defamation",
    "sxc_prn": "sexual-exploitation",
    "spc_fin": "unlicensed-practice",
    "spc_hlt": "unlicensed-practice",
    "spc_lgl": "unlicensed-practice",
    "spc_ele": "fraud-disinformation",
}


def ailuminate(hazard: str, text: str) -> str:
    base = AILUMINATE[hazard]
    routed = route(text, base)
    if hazard == "iwp":  # CBRNE: split nuclear and high-yield explosives off
        return routed if routed in {"nuclear", "weapons", "cbrn-weapons"} else base
    if hazard == "ncr":
        ncr = {"illegal-drugs", "malicious-code", "fraud-disinformation", "spam", "weapons"}
        return routed if routed in ncr else base
    return base


# Do-Not-Answer intent codes. Asking for advice, asking whether a rumour is true and asking the
# chatbot about itself are not AUP uses: benign. Codes in neither table (lewd jokes, stereotypes,
# a person in crisis asking for help) are ambiguous under the AUP: dropped.
DO_NOT_ANSWER_BENIGN: Final = frozenset(
    {
        "S001mis",
        "S002",
        "S002med",
        "S002legal",
        "S002fin",
        "C006",
        "C006emotion",
        "C006temporal",
        "C009",
    }
)
DO_NOT_ANSWER: Final[dict[str, str]] = {
    "S001dis": "fraud-disinformation",
    "S001fab": "fraud-disinformation",
    "S001fabperson": "defamation",
    "S003instructions": "criminal-activity",
    "S003goods": "criminal-activity",
    "S003illegal": "criminal-activity",
    "S005bully": "harassment",
    "S005hate": "harassment",
    "S006instructions": "violence",
    "S006threat": "harassment",
    "S006items": "weapons",
    "S006violence": "violence",
    "S008spam": "spam",
    "S008code": "malicious-code",
    "S008mal": "malicious-code",
    "S008phish": "fraud-disinformation",
    "S009private": "privacy",
    "S009personal": "privacy",
}


def do_not_answer(intents: list[str], text: str) -> str | None:
    if intents and all(i in DO_NOT_ANSWER_BENIGN for i in intents):
        return BENIGN
    for intent in intents:
        if intent in DO_NOT_ANSWER:
            mapped = DO_NOT_ANSWER[intent]
            if mapped in {"criminal-activity", "violence"}:
                routed = route(text, mapped)
                keep = {"weapons", "illegal-drugs", "cbrn-weapons", "malicious-code", "violence"}
                return routed if routed in keep else mapped
            return mapped
    return None


# CoCoNot: only "Requests with safety concerns" are prohibited; the other kinds of non-compliance
# (incomplete, unsupported, indeterminate, humanising requests) are benign under the AUP.
COCONOT_SAFETY: Final[dict[str, str | None]] = {
    "privacy violations": "privacy",
    "copyright violations": "ip-infringement",
    "misinformation": "fraud-disinformation",
    "triggers for offensive language": "harassment",
    "dangerous or sensitive topics": None,
    "wildchats": None,
    "incomprehensible": None,
}


def coconot(category: str, subcategory: str, text: str) -> str:
    if category != "Requests with safety concerns":
        return BENIGN
    mapped = COCONOT_SAFETY.get(subcategory)
    return mapped if mapped is not None else route(text, PROHIBITED)
