"""Screening precision and recall on the real OFAC SDN list, per scorer and threshold.

Positives: the names of sampled SDN entities, verbatim and with realistic noise (case,
punctuation, legal-suffix changes, word order, one-character typos, diacritics). Negatives:
well-known organisations that are not sanctioned. Run from the repository root:

    .venv/bin/python -m benchmarks.screening_precision
"""

from __future__ import annotations

import random
import statistics
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from aupgate.identity.screening import (
    DEFAULT_THRESHOLD,
    ListEntry,
    Scorer,
    Screener,
    load_screening_list,
)

SDN_FILE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ofac-sdn" / "sdn.csv"
THRESHOLDS = (85.0, 88.0, 90.0, 92.0, 95.0)
SCORERS: tuple[Scorer, ...] = ("hybrid", "token_sort", "ratio", "token_set", "wratio")
SAMPLE = 500
SEED = 20241104

# Real organisations that are not on the SDN list: US/allied companies, universities, NGOs and
# government agencies of allied countries -- the kind of names aupgate registers.
CLEAN_ORGANISATIONS = (
    # Companies (Fortune 500 and large allied-country firms)
    "Walmart Inc.", "Amazon.com, Inc.", "Apple Inc.", "CVS Health Corporation",
    "UnitedHealth Group Incorporated", "Exxon Mobil Corporation", "Berkshire Hathaway Inc.",
    "Alphabet Inc.", "McKesson Corporation", "AmerisourceBergen Corporation", "Costco Wholesale",
    "Cigna Corporation", "AT&T Inc.", "Microsoft Corporation", "Cardinal Health",
    "Chevron Corporation", "The Home Depot", "Walgreens Boots Alliance", "Marathon Petroleum",
    "Elevance Health", "Kroger Co.", "Ford Motor Company", "Verizon Communications",
    "JPMorgan Chase & Co.", "General Motors Company", "Centene Corporation",
    "Meta Platforms, Inc.", "Comcast Corporation", "Phillips 66", "Valero Energy",
    "Dell Technologies", "Target Corporation", "Fannie Mae", "United Parcel Service",
    "Lowe's Companies", "Bank of America Corporation", "Johnson & Johnson",
    "Archer-Daniels-Midland Company", "FedEx Corporation", "Humana Inc.", "Wells Fargo & Company",
    "State Farm Insurance", "Pfizer Inc.", "Citigroup Inc.", "PepsiCo, Inc.", "Intel Corporation",
    "Procter & Gamble", "General Electric Company", "IBM", "MetLife, Inc.",
    "Prudential Financial", "Albertsons Companies", "Walt Disney Company", "Energy Transfer LP",
    "Lockheed Martin Corporation", "Freddie Mac", "Goldman Sachs Group", "Raytheon Technologies",
    "HP Inc.", "The Boeing Company", "Morgan Stanley", "HCA Healthcare", "AbbVie Inc.",
    "Dow Inc.", "Tesla, Inc.", "Allstate Corporation", "American International Group",
    "Best Buy Co.", "Charter Communications", "Sysco Corporation", "Merck & Co.",
    "New York Life Insurance", "Caterpillar Inc.", "Cisco Systems, Inc.", "TJX Companies",
    "Publix Super Markets", "ConocoPhillips", "Liberty Mutual Insurance", "Progressive Corporation",
    "Nationwide Mutual Insurance", "Tyson Foods", "Bristol-Myers Squibb", "Nike, Inc.",
    "Deere & Company", "American Express Company", "Abbott Laboratories", "StoneX Group",
    "Plains All American Pipeline", "Enterprise Products Partners", "TIAA", "Oracle Corporation",
    "Thermo Fisher Scientific", "Coca-Cola Company", "General Dynamics Corporation",
    "CHS Inc.", "USAA", "Northwestern Mutual", "Nucor Corporation", "Exelon Corporation",
    "Massachusetts Mutual Life Insurance", "Northrop Grumman Corporation", "L3Harris Technologies",
    "Booz Allen Hamilton", "Palantir Technologies Inc.", "Anduril Industries",
    "Leidos Holdings", "Science Applications International Corporation", "CACI International",
    "Huntington Ingalls Industries", "Textron Inc.", "Honeywell International Inc.",
    "3M Company", "Qualcomm Incorporated", "Nvidia Corporation", "Advanced Micro Devices",
    "Salesforce, Inc.", "Adobe Inc.", "Netflix, Inc.", "Starbucks Corporation",
    "McDonald's Corporation", "Goodyear Tire & Rubber", "Whirlpool Corporation",
    "Kraft Heinz Company", "General Mills", "Kellogg Company", "Colgate-Palmolive",
    "Estee Lauder Companies", "Marriott International", "Hilton Worldwide Holdings",
    "Delta Air Lines", "United Airlines Holdings", "American Airlines Group",
    "Southwest Airlines Co.", "Union Pacific Corporation", "CSX Corporation",
    "Norfolk Southern Corporation", "Duke Energy Corporation", "Southern Company",
    "Dominion Energy", "NextEra Energy", "BAE Systems plc", "Rolls-Royce Holdings plc",
    "BP p.l.c.", "Shell plc", "Unilever PLC", "GlaxoSmithKline plc", "AstraZeneca PLC",
    "HSBC Holdings plc", "Barclays PLC", "Lloyds Banking Group", "Vodafone Group Plc",
    "Tesco PLC", "Rio Tinto Group", "BHP Group Limited", "Commonwealth Bank of Australia",
    "Telstra Corporation Limited", "Qantas Airways Limited", "Woolworths Group Limited",
    "CSL Limited", "Royal Bank of Canada", "Toronto-Dominion Bank", "Shopify Inc.",
    "Bombardier Inc.", "CAE Inc.", "Air New Zealand Limited", "Fonterra Co-operative Group",
    "Siemens AG", "Volkswagen AG", "BMW AG", "Bosch GmbH", "SAP SE", "Airbus SE",
    "Thales Group", "Dassault Aviation", "Safran S.A.", "TotalEnergies SE", "L'Oreal S.A.",
    "Nestle S.A.", "Novartis AG", "Roche Holding AG", "ABB Ltd", "Ericsson AB", "Nokia Oyj",
    "Saab AB", "Equinor ASA", "Novo Nordisk A/S", "Maersk A/S", "ASML Holding N.V.",
    "Philips N.V.", "Heineken N.V.", "Leonardo S.p.A.", "Fincantieri S.p.A.",
    "Telefonica S.A.", "Banco Santander S.A.", "Toyota Motor Corporation", "Sony Group Corporation",
    "Mitsubishi Heavy Industries", "Hitachi, Ltd.", "Panasonic Holdings", "Samsung Electronics",
    "Hyundai Motor Company", "LG Electronics", "Hanwha Aerospace", "Taiwan Semiconductor "
    "Manufacturing Company", "Infosys Limited", "Tata Consultancy Services", "Accenture plc",
    "Deloitte LLP", "PricewaterhouseCoopers LLP", "Ernst & Young Global Limited", "KPMG LLP",
    "McKinsey & Company", "Boston Consulting Group", "Bain & Company",
    "OpenAI", "Anthropic PBC", "Hugging Face, Inc.", "Mistral AI", "Cohere Inc.",
    "Scale AI", "Databricks, Inc.", "Snowflake Inc.",
    # Universities and research institutes
    "University of Oxford", "University of Cambridge", "Imperial College London",
    "University College London", "King's College London", "London School of Economics",
    "University of Edinburgh", "University of Manchester", "Massachusetts Institute of Technology",
    "Harvard University", "Stanford University", "California Institute of Technology",
    "Princeton University", "Yale University", "Columbia University", "University of Chicago",
    "University of Pennsylvania", "Cornell University", "Johns Hopkins University",
    "Northwestern University", "Duke University", "Brown University", "Dartmouth College",
    "Carnegie Mellon University", "Georgia Institute of Technology", "Purdue University",
    "University of Michigan", "University of California, Berkeley",
    "University of California, Los Angeles", "University of Washington",
    "University of Texas at Austin", "University of Illinois Urbana-Champaign",
    "University of Wisconsin-Madison", "New York University", "Texas A&M University",
    "Penn State University", "Ohio State University", "University of Toronto",
    "McGill University", "University of British Columbia", "University of Waterloo",
    "Australian National University", "University of Melbourne", "University of Sydney",
    "University of Queensland", "Monash University", "UNSW Sydney", "University of Auckland",
    "Victoria University of Wellington", "National University of Singapore",
    "Nanyang Technological University", "University of Tokyo", "Kyoto University",
    "Seoul National University", "KAIST", "ETH Zurich", "EPFL", "Technical University of Munich",
    "Heidelberg University", "Sorbonne University", "Ecole Polytechnique", "Delft University of "
    "Technology", "KU Leuven", "Karolinska Institutet", "University of Copenhagen",
    "University of Helsinki", "Trinity College Dublin", "Weizmann Institute of Science",
    "Technion - Israel Institute of Technology", "Max Planck Society", "Fraunhofer Society",
    "CNRS", "Alan Turing Institute", "Allen Institute for AI", "RAND Corporation",
    "MITRE Corporation", "Lawrence Livermore National Laboratory", "Sandia National Laboratories",
    "Los Alamos National Laboratory", "Oak Ridge National Laboratory", "Naval Postgraduate School",
    "United States Military Academy", "Royal Military College of Canada",
    "Defence Academy of the United Kingdom", "Australian Defence Force Academy",
    # NGOs and international organisations
    "International Committee of the Red Cross", "American Red Cross", "Medecins Sans Frontieres",
    "Oxfam International", "Save the Children", "UNICEF", "World Health Organization",
    "Amnesty International", "Human Rights Watch", "Bill & Melinda Gates Foundation",
    "Wellcome Trust", "Ford Foundation", "Rockefeller Foundation", "Open Society Foundations",
    "World Wildlife Fund", "Greenpeace International", "CARE International", "Mercy Corps",
    "International Rescue Committee", "Habitat for Humanity", "World Food Programme",
    "United Nations Development Programme", "World Bank Group", "International Monetary Fund",
    "OECD", "NATO", "European Commission", "Mozilla Foundation", "Wikimedia Foundation",
    "Electronic Frontier Foundation", "Linux Foundation", "Apache Software Foundation",
    "Partnership on AI", "Center for Security and Emerging Technology", "Brookings Institution",
    "Council on Foreign Relations", "Carnegie Endowment for International Peace",
    "Chatham House", "International Institute for Strategic Studies",
    "Stockholm International Peace Research Institute",
    # Government agencies of the US and allied countries
    "United States Department of Defense", "Department of Homeland Security",
    "Defense Advanced Research Projects Agency", "National Security Agency",
    "Central Intelligence Agency", "Federal Bureau of Investigation", "US Army", "US Navy",
    "United States Air Force", "US Cyber Command", "Defense Intelligence Agency",
    "National Geospatial-Intelligence Agency", "Department of Energy", "Department of State",
    "National Aeronautics and Space Administration", "National Institutes of Health",
    "Centers for Disease Control and Prevention", "Cybersecurity and Infrastructure Security "
    "Agency", "National Institute of Standards and Technology", "US Census Bureau",
    "UK Ministry of Defence", "Government Communications Headquarters", "Secret Intelligence "
    "Service", "Home Office", "Foreign, Commonwealth & Development Office",
    "Defence Science and Technology Laboratory", "National Cyber Security Centre",
    "Royal Air Force", "Royal Navy", "British Army", "Department of National Defence (Canada)",
    "Communications Security Establishment", "Canadian Security Intelligence Service",
    "Royal Canadian Mounted Police", "Defence Research and Development Canada",
    "Australian Department of Defence", "Australian Signals Directorate",
    "Australian Security Intelligence Organisation", "Defence Science and Technology Group",
    "Australian Federal Police", "New Zealand Defence Force",
    "Government Communications Security Bureau", "New Zealand Security Intelligence Service",
    "Ministry of Business, Innovation and Employment", "Bundeswehr",
    "Bundesamt fur Sicherheit in der Informationstechnik", "Ministere des Armees",
    "Agence nationale de la securite des systemes d'information", "Japan Self-Defense Forces",
    "Korea Institute for Defense Analyses",
)  # fmt: skip


@dataclass(frozen=True)
class Query:
    name: str
    target: str | None  # entry id that must be found; None for a clean organisation
    kind: str


# --------------------------------------------------------------------------------------------
# Noise: each function returns a variant of a list name a user might have typed.

_LEGAL_SUFFIXES = ("Ltd.", "Limited", "LLC", "Inc.", "Co.", "Company", "GmbH", "S.A.", "Corp.")
# Words of legal forms as they occur in SDN names; noise keeps them where they are (people move
# or change the name, not the legal form) or swaps the whole form.
_LEGAL_WORDS = frozenset((
    "co", "ltd", "limited", "llc", "inc", "sa", "de", "cv", "s", "rl", "company", "corp",
    "corporation", "gmbh", "jsc", "ooo", "oao", "zao", "ao", "pjsc", "ojsc", "cjsc", "plc", "fze",
    "ltda", "sarl", "sas", "sal", "cia", "srl", "bv", "pte", "pvt", "private", "public", "joint",
    "stock", "liability", "kk", "dmcc", "eood", "ood", "ag", "anonim", "sirketi",
    "obshchestvo", "ogranichennoi", "otvetstvennostyu", "aktsionernoe",
))  # fmt: skip
_ACCENTED = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "c": "ç", "n": "ñ"}


def _case(name: str, rng: random.Random) -> str:
    return rng.choice((str.lower, str.title, str.swapcase))(name)


def _punctuation(name: str, rng: random.Random) -> str:
    stripped = "".join(char for char in name if char not in string.punctuation)
    if stripped != name and rng.random() < 0.5:
        return stripped
    words = name.split()
    if len(words) < 2:
        return name + "."
    at = rng.randrange(len(words) - 1)
    joiner = rng.choice((", ", "-", ". "))
    return " ".join([*words[:at], words[at] + joiner + words[at + 1], *words[at + 2 :]])


def _legal_word(word: str) -> bool:
    return "".join(filter(str.isalnum, word)).casefold() in _LEGAL_WORDS


def _core(words: list[str]) -> tuple[int, int]:
    """Bounds of the words between a leading and a trailing legal form (at least one word)."""
    start, end = 0, len(words)
    while end - start > 1 and _legal_word(words[end - 1]):
        end -= 1
    while end - start > 1 and _legal_word(words[start]):
        start += 1
    return start, end


def _suffix(name: str, rng: random.Random) -> str:
    words = name.split()
    start, end = _core(words)
    core = " ".join(words[start:end]).rstrip(",")
    return core + rng.choice((" ", ", ")) + rng.choice(_LEGAL_SUFFIXES)


def _word_order(name: str, rng: random.Random) -> str:
    words = name.split()
    start, end = _core(words)
    core = words[start:end]
    if len(core) < 2:
        return name
    if rng.random() < 0.5:
        core = [*core[1:-1], core[-1].rstrip(",") + ",", core[0]]
    else:
        at = rng.randrange(len(core) - 1)
        core[at], core[at + 1] = core[at + 1], core[at]
    return " ".join(words[:start] + core + words[end:])


def _typo(name: str, rng: random.Random) -> str:
    letters = [index for index, char in enumerate(name) if char.isalpha()]
    at = rng.choice(letters)
    edit = rng.choice(("substitute", "delete", "insert", "transpose"))
    other = rng.choice(string.ascii_uppercase if name[at].isupper() else string.ascii_lowercase)
    if edit == "substitute":
        return name[:at] + other + name[at + 1 :]
    if edit == "delete":
        return name[:at] + name[at + 1 :]
    if edit == "insert":
        return name[:at] + other + name[at:]
    after = min(at + 1, len(name) - 1)
    return name[:at] + name[after] + name[at] + name[after + 1 :]


def _diacritics(name: str, rng: random.Random) -> str:
    chars = list(name)
    spots = [index for index, char in enumerate(chars) if char.casefold() in _ACCENTED]
    for index in rng.sample(spots, min(len(spots), rng.randint(1, 3))):
        accented = _ACCENTED[chars[index].casefold()]
        chars[index] = accented.upper() if chars[index].isupper() else accented
    return "".join(chars)


NOISE: dict[str, Callable[[str, random.Random], str]] = {
    "case": _case,
    "punctuation": _punctuation,
    "suffix": _suffix,
    "word-order": _word_order,
    "typo": _typo,
    "diacritics": _diacritics,
}


def _combined(name: str, rng: random.Random) -> str:
    first, second = rng.sample(sorted(NOISE), 2)
    return NOISE[second](NOISE[first](name, rng), rng)


def build_queries(entries: Sequence[ListEntry], rng: random.Random) -> list[Query]:
    organisations = [entry for entry in entries if entry.entry_type == "entity"]
    sample = rng.sample(organisations, SAMPLE)
    queries = [Query(entry.name, entry.entry_id, "exact") for entry in sample]
    for kind, noise in (*NOISE.items(), ("two-noises", _combined)):
        queries += [Query(noise(entry.name, rng), entry.entry_id, kind) for entry in sample]
    queries += [Query(name, None, "clean") for name in CLEAN_ORGANISATIONS]
    return queries


# --------------------------------------------------------------------------------------------
# Measurement


@dataclass(frozen=True)
class Outcome:
    query: Query
    target_score: float  # best score of the correct entry (0 if not matched at the floor)
    best_other: float  # best score of any other entry
    best_other_name: str
    seconds: float


def run(screener: Screener, queries: Sequence[Query]) -> list[Outcome]:
    outcomes = []
    for query in queries:
        start = time.perf_counter()
        matches = screener.match([query.name], limit=None)
        seconds = time.perf_counter() - start
        target = [m.score for m in matches if m.entry.entry_id == query.target]
        others = [m for m in matches if m.entry.entry_id != query.target]
        outcomes.append(
            Outcome(
                query=query,
                target_score=max(target, default=0.0),
                best_other=others[0].score if others else 0.0,
                best_other_name=others[0].matched_name if others else "",
                seconds=seconds,
            )
        )
    return outcomes


@dataclass(frozen=True)
class Scores:
    recall_exact: float
    recall_noisy: float
    false_positive_rate: float
    precision: float


def score(outcomes: Sequence[Outcome], threshold: float) -> Scores:
    def recall(kinds: Callable[[str], bool]) -> float:
        chosen = [o for o in outcomes if kinds(o.query.kind)]
        return sum(o.target_score >= threshold for o in chosen) / len(chosen)

    positives = [o for o in outcomes if o.query.target is not None]
    clean = [o for o in outcomes if o.query.target is None]
    true_hits = sum(o.target_score >= threshold for o in positives)
    # A flag on the wrong entry is a false positive too: the administrator is shown a wrong hit.
    wrong_hits = sum(o.target_score < threshold <= o.best_other for o in positives)
    clean_hits = sum(o.best_other >= threshold for o in clean)
    flagged = true_hits + wrong_hits + clean_hits
    return Scores(
        recall_exact=recall(lambda kind: kind == "exact"),
        recall_noisy=recall(lambda kind: kind not in ("exact", "clean")),
        false_positive_rate=clean_hits / len(clean),
        precision=true_hits / flagged if flagged else 1.0,
    )


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _latency(outcomes: Sequence[Outcome]) -> str:
    millis = [o.seconds * 1000 for o in outcomes]
    return f"{statistics.median(millis):.2f} / {_percentile(millis, 0.99):.2f}"


def _screener(entries: Sequence[ListEntry], scorer: Scorer) -> Screener:
    return Screener(entries, threshold=min(THRESHOLDS), scorer=scorer)


def main() -> None:
    listed = load_screening_list(SDN_FILE)
    entries = listed.entries
    queries = build_queries(entries, random.Random(SEED))
    clean = sum(query.target is None for query in queries)
    print(
        f"OFAC SDN {listed.sha256[:12]}: {len(entries)} entries; {SAMPLE} sampled entities x "
        f"{len(NOISE) + 2} variants, {clean} clean organisations\n"
    )
    print("scorer      thr   recall exact  recall noisy  FP rate clean  precision  p50 / p99 ms")
    results: dict[Scorer, list[Outcome]] = {}
    for scorer in SCORERS:
        results[scorer] = run(_screener(entries, scorer), queries)
        for threshold in THRESHOLDS:
            s = score(results[scorer], threshold)
            print(
                f"{scorer:<10} {threshold:5.0f}  {s.recall_exact:12.3f}  {s.recall_noisy:12.3f}"
                f"  {s.false_positive_rate:13.3f}  {s.precision:9.3f}  {_latency(results[scorer])}"
            )

    default = results["hybrid"]
    print(f"\nhybrid recall by noise kind (threshold {DEFAULT_THRESHOLD:.0f}):")
    for kind in ("exact", *NOISE, "two-noises"):
        chosen = [o for o in default if o.query.kind == kind]
        found = sum(o.target_score >= DEFAULT_THRESHOLD for o in chosen)
        print(f"  {kind:<12} {found / len(chosen):.3f}")

    print(f"\nclean organisations flagged at {DEFAULT_THRESHOLD:.0f} (hybrid):")
    for outcome in default:
        if outcome.query.target is None and outcome.best_other >= DEFAULT_THRESHOLD:
            print(
                f"  {outcome.query.name!r} ~ {outcome.best_other_name!r} ({outcome.best_other:.1f})"
            )

    # Weak a.k.a.s from the Remarks column matched fuzzily instead of exactly: the ablation.
    fuzzy_weak = [
        replace(entry, aliases=entry.aliases + entry.weak_aliases, weak_aliases=())
        for entry in entries
    ]
    ablation = run(_screener(fuzzy_weak, "hybrid"), queries)
    print("\nweak a.k.a.s matched fuzzily (hybrid):")
    for threshold in THRESHOLDS:
        s = score(ablation, threshold)
        print(
            f"  {threshold:3.0f}: FP rate clean {s.false_positive_rate:.3f}, "
            f"precision {s.precision:.3f}, recall noisy {s.recall_noisy:.3f}"
        )

    # Latency against a list twice the size of the SDN list (about 23k names).
    doubled = [
        *entries,
        *(replace(e, entry_id=f"{e.entry_id}-copy", name=f"{e.name} II") for e in entries),
    ]
    big = run(_screener(doubled, "hybrid"), queries)
    print(f"\nlatency, {len(doubled)} entries (hybrid): p50 / p99 ms {_latency(big)}")


if __name__ == "__main__":
    main()
