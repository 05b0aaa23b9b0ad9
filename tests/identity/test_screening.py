"""Screening lists: loading the real OFAC SDN copy and CSL files, normalisation and matching."""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import pytest

from aupgate.identity.screening import (
    CSL_LIST_NAME,
    DEFAULT_THRESHOLD,
    SDN_LIST_NAME,
    ListEntry,
    Screener,
    ScreeningList,
    ScreeningListError,
    load_screening_list,
    normalise,
)

SDN_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ofac-sdn"
SDN_FILE = SDN_DIR / "sdn.csv"

ENTITY_LIST = "Entity List (EL) - Bureau of Industry and Security"
CSL_HEADER = [
    "_id", "source", "entity_number", "type", "programs", "name", "title", "addresses",
    "federal_register_notice", "start_date", "end_date", "standard_order", "license_requirement",
    "license_policy", "call_sign", "vessel_type", "gross_tonnage", "gross_registered_tonnage",
    "vessel_flag", "vessel_owner", "remarks", "source_list_url", "alt_names", "citizenships",
    "dates_of_birth", "nationalities", "places_of_birth", "source_information_url", "ids",
]  # fmt: skip
EMPTY = "-0- "


@pytest.fixture(scope="module")
def sdn() -> ScreeningList:
    return load_screening_list(SDN_FILE)


def write_csl(path: Path, rows: list[dict[str, str]]) -> Path:
    # The official CSL download starts with a byte-order mark; so does this fixture.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSL_HEADER, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def csl_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csl(
        tmp_path_factory.mktemp("csl") / "consolidated.csv",
        [
            {
                "_id": "3f1c9b0e",
                "source": ENTITY_LIST,
                "programs": "EAR",
                "name": "National University of Defense Technology",
                "addresses": "Changsha, Hunan, CN",
                "alt_names": "NUDT; Guofang Keji Daxue; PLA National University of Defense "
                "Technology",
            },
            {
                "_id": "9a7d2c41",
                "source": "Specially Designated Nationals (SDN) - Treasury Department",
                "entity_number": "36",
                "type": "Entity",
                "programs": "CUBA",
                "name": "AEROCARIBBEAN AIRLINES",
            },
        ],
    )


def sdn_row(ent_num: str, name: str, remarks: str = EMPTY, kind: str = EMPTY) -> str:
    cells = [ent_num, f'"{name}"', kind, "SDGT] [IFSR", *[EMPTY] * 7, f'"{remarks}"']
    return ",".join(cells)


# --------------------------------------------------------------------------------------------
# Loading


def test_real_sdn_copy_loads_with_its_header_row(sdn: ScreeningList) -> None:
    assert sdn.layout == "ofac-sdn-with-header"
    assert sdn.list_name == SDN_LIST_NAME
    assert sdn.sha256 == hashlib.sha256(SDN_FILE.read_bytes()).hexdigest()
    assert len(sdn.entries) > 11_000
    assert all(entry.entry_id.isdigit() for entry in sdn.entries)  # no header, no EOF marker
    by_id = {entry.entry_id: entry for entry in sdn.entries}
    cuba = by_id["306"]
    assert (cuba.name, cuba.entry_type, cuba.programs) == (
        "BANCO NACIONAL DE CUBA",
        "entity",
        ("CUBA",),
    )
    assert cuba.weak_aliases == ("BNC",)
    assert by_id["40421"].entry_type == "individual"
    assert by_id["40421"].programs == ("NPWMD", "IFSR")
    hizballah = by_id["4697"].weak_aliases
    assert "FOREIGN RELATIONS DEPARTMENT" in hizballah and "LH" in hizballah


def test_official_layout_without_header_gives_the_same_entries(
    sdn: ScreeningList, tmp_path: Path
) -> None:
    official = tmp_path / "sdn.csv"
    official.write_bytes(SDN_FILE.read_bytes().split(b"\n", 1)[1])
    loaded = load_screening_list(official)
    assert loaded.layout == "ofac-sdn"
    assert loaded.entries == sdn.entries


def test_remarks_aliases_are_weak_and_a_truncated_one_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "sdn.csv"
    remarks = "DOB 1964; a.k.a. 'AH SAN'; f.k.a. 'SHI KWAN'; Linked To: X; a.k.a. 'WHOIS HACKIN"
    path.write_text(sdn_row("7", "SHI, Kwan", remarks, "individual") + "\r\n\x1a\r\n")
    (entry,) = load_screening_list(path).entries
    assert entry.weak_aliases == ("AH SAN", "SHI KWAN", "WHOIS HACKIN")
    assert entry.aliases == ()


def test_alt_csv_adds_strong_aliases(tmp_path: Path) -> None:
    main = tmp_path / "sdn.csv"
    main.write_text(sdn_row("10", "ACME TRADING LLC") + "\n" + sdn_row("11", "BETA LTD.") + "\n")
    alt = tmp_path / "alt.csv"
    alt.write_text('10,1,aka,"ACME GENERAL TRADING",-0- \n10,2,fka,"OLD ACME",-0- \n\x1a\n')
    loaded = load_screening_list(main, aliases=alt)
    assert loaded.aliases_sha256 == hashlib.sha256(alt.read_bytes()).hexdigest()
    assert [entry.aliases for entry in loaded.entries] == [
        ("ACME GENERAL TRADING", "OLD ACME"),
        (),
    ]


def test_csl_layout_keeps_the_source_list_and_alt_names(csl_file: Path) -> None:
    loaded = load_screening_list(csl_file)
    assert (loaded.layout, loaded.list_name) == ("csl", CSL_LIST_NAME)
    nudt, airline = loaded.entries
    assert nudt == ListEntry(
        list_name=ENTITY_LIST,
        entry_id="3f1c9b0e",  # the Entity List has no entity number: the row id stands in
        name="National University of Defense Technology",
        aliases=("NUDT", "Guofang Keji Daxue", "PLA National University of Defense Technology"),
        entry_type="unspecified",
        programs=("EAR",),
    )
    assert (airline.entry_id, airline.entry_type) == ("36", "entity")


SDN_OK = sdn_row("36", "AEROCARIBBEAN AIRLINES")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"ID,Name,Type,Country,Title,F,G,H,I,J,K,Details\n", "the file has no list entries"),
        (b"ID,Col_B,Address,City,Country,\n36,25,x,Havana,Cuba,\n", "line 1: not a known"),
        (f"{SDN_OK}\n36,short,row\n".encode(), "line 2: expected 12 columns"),
        (sdn_row("x1", "FOO").encode(), "line 1: not a known screening list layout"),
        (f"{SDN_OK}\n{sdn_row('4a', 'FOO')}\n".encode(), "line 2: entity number '4a' is not"),
        (f"{SDN_OK}\n\n{SDN_OK}\n".encode(), "line 3: duplicate entity number 36"),
        (f"{SDN_OK}\n\x1a\n{sdn_row('37', 'FOO')}\n".encode(), "line 3: data after the end-of"),
        (f"{SDN_OK}\n{sdn_row('37', '-0- ')}\n".encode(), "line 2: name '' has no letters"),
        (f"{SDN_OK}\n{sdn_row('37', '...')}\n".encode(), "line 2: name '...' has no letters"),
        (SDN_OK.encode() + b"\n" + sdn_row("37", "CAF\xc9").encode("latin-1"), "line 2: not UTF-8"),
        (f'{SDN_OK}\n37,"UNTERMINATED\n'.encode(), "line 2: malformed CSV"),
    ],
)
def test_malformed_sdn_files_fail_with_file_line_and_reason(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    with pytest.raises(ScreeningListError) as raised:
        load_screening_list(path)
    text = str(raised.value)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"source": ENTITY_LIST, "name": "FOO"}, "line 2: entry has neither 'entity_number'"),
        ({"_id": "1", "name": "FOO"}, "line 2: empty 'source'"),
        ({"_id": "1", "source": ENTITY_LIST}, "line 2: name '' has no letters"),
        ({"_id": "1", "source": ENTITY_LIST, "name": "FOO", "alt_names": "X; ?"}, "alt name '?'"),
    ],
)
def test_malformed_csl_rows_fail_with_line_and_reason(
    tmp_path: Path, row: dict[str, str], message: str
) -> None:
    path = write_csl(tmp_path / "csl.csv", [row])
    with pytest.raises(ScreeningListError, match=message):
        load_screening_list(path)


def test_csl_row_with_missing_columns_and_header_without_ids_fail(tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_text(",".join(CSL_HEADER) + "\n1,src,2\n")
    with pytest.raises(ScreeningListError, match="line 2: expected 29 columns like the header"):
        load_screening_list(short)
    no_ids = tmp_path / "no_ids.csv"
    no_ids.write_text("source,name\nsrc,FOO\n")
    with pytest.raises(ScreeningListError, match=r"line 1: .* no 'entity_number' or '_id'"):
        load_screening_list(no_ids)


def test_alias_file_problems_fail_with_line(tmp_path: Path) -> None:
    main = tmp_path / "sdn.csv"
    main.write_text(SDN_OK + "\n")
    alt = tmp_path / "alt.csv"
    alt.write_text('36,1,aka,"AEROCARIBBEAN",-0- \n99,2,aka,"GHOST",-0- \n')
    with pytest.raises(ScreeningListError, match=r"alt\.csv: line 2: alias for unknown entity"):
        load_screening_list(main, aliases=alt)
    alt.write_text("36,1,aka\n")
    with pytest.raises(ScreeningListError, match="line 1: expected 5 columns"):
        load_screening_list(main, aliases=alt)


def test_missing_file_is_a_screening_list_error(tmp_path: Path) -> None:
    with pytest.raises(ScreeningListError, match="cannot read"):
        load_screening_list(tmp_path / "absent.csv")


# --------------------------------------------------------------------------------------------
# Normalisation


@pytest.mark.parametrize(
    ("listed", "registered"),
    [
        ("ANGLO-CARIBBEAN CO., LTD.", "Anglo Caribbean Company Limited"),
        ("OOO ROMASHKA", "Romashka LLC"),
        ("JOINT STOCK COMPANY TACTICAL MISSILES", "Tactical Missiles Corp."),
        ("GRUPO X, S.A. DE C.V.", "Grupo X"),
        ("SOCIETE GENERALE", "Société Générale"),
        ("NATIONAL UNIVERSITY OF DEFENSE TECHNOLOGY", "Natl. Univ. of Defence Technology"),
        ("O'NEIL & SONS", "ONeil and Sons"),
    ],
)
def test_spelling_variants_normalise_alike(listed: str, registered: str) -> None:
    assert normalise(listed) == normalise(registered)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Alfa Group", "Alfa"),  # "Group" names a party; only legal forms are dropped
        ("CA Technologies", "Technologies"),  # "CA" is a legal form only at the end
        ("Sky Holding", "Sky"),
    ],
)
def test_words_that_name_a_party_are_kept(one: str, other: str) -> None:
    assert normalise(one) != normalise(other)


def test_a_misspelt_long_legal_form_is_still_dropped() -> None:
    assert normalise("Era Fund Limited Liability Comapny") == normalise("ERA FUND LLC")
    assert normalise("Acme Limitd") == "acme"
    assert normalise("Compass Corp.") == "compass"  # two edits from "company": a name word


def test_a_name_made_only_of_a_legal_form_is_not_emptied() -> None:
    assert normalise("Limited") == "limited"
    assert normalise("?!") == ""


# --------------------------------------------------------------------------------------------
# Matching


@pytest.fixture(scope="module")
def sdn_screener(sdn: ScreeningList) -> Screener:
    return Screener(sdn.entries)


@pytest.fixture(scope="module")
def csl_and_sdn(csl_file: Path, sdn: ScreeningList) -> Screener:
    return Screener(load_screening_list(csl_file).entries + sdn.entries)


@pytest.mark.parametrize(
    "registered",
    [
        "Natl. Univ. of Defence Technology",
        "NUDT",
        "Defense Technology University, National",
        "National University of Defence Technology",
        "National Univ. of Defense Technolgy",
    ],
)
def test_nudt_spelling_variants_hit_the_entity_list_entry(
    csl_and_sdn: Screener, registered: str
) -> None:
    (hit,) = csl_and_sdn.match([registered])
    assert (hit.entry.list_name, hit.entry.entry_id) == (ENTITY_LIST, "3f1c9b0e")
    assert hit.query == registered
    assert DEFAULT_THRESHOLD <= hit.score <= 100.0


@pytest.mark.parametrize(
    "registered",
    [
        "Lockheed Martin Corporation",
        "University of Oxford",
        "National University of Singapore",
        "Northwestern Polytechnical Institute",
        "Defense Technology Partners",
    ],
)
def test_unrelated_organisations_do_not_hit(csl_and_sdn: Screener, registered: str) -> None:
    assert csl_and_sdn.match([registered]) == []


def test_best_match_per_entry_over_name_and_aliases(sdn_screener: Screener) -> None:
    matches = sdn_screener.match(
        ["Acme Holdings", "Banco Nacional de Cubx", "BANCO NACIONAL DE CUBA S.A."], limit=None
    )
    assert [m.entry.entry_id for m in matches].count("306") == 1
    best = next(m for m in matches if m.entry.entry_id == "306")
    assert (best.query, best.matched_name, best.score) == (
        "BANCO NACIONAL DE CUBA S.A.",
        "BANCO NACIONAL DE CUBA",
        100.0,
    )
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


@pytest.mark.parametrize(
    ("registered", "listed"),
    [
        ("Alharamain Islamic Foundation", "AL-HARAMAIN ISLAMIC FOUNDATION"),
        ("Al Haramain Islamic Foundation", "AL-HARAMAIN ISLAMIC FOUNDATION"),
        ("Naftiran Intertrade Company", "NAFTIRAN INTERTRADE CO. (NICO) LIMITED"),
        ("Rostec State Corporation", "STATE CORPORATION ROSTEC"),
    ],
)
def test_hyphens_brackets_and_legal_words_do_not_hide_a_name(
    sdn_screener: Screener, registered: str, listed: str
) -> None:
    (hit, *_) = sdn_screener.match([registered])
    assert (hit.matched_name, hit.score) == (listed, 100.0)


def test_a_typo_in_a_first_letter_still_matches(sdn: ScreeningList) -> None:
    typo = "Wccidental de Papeles Ltda."
    (hit,) = Screener(sdn.entries).match([typo])
    assert hit.matched_name == "OCCIDENTAL DE PAPELES LTDA." and hit.score >= DEFAULT_THRESHOLD
    # Sorting tokens alone moves the misspelt word and loses the match.
    assert Screener(sdn.entries, scorer="token_sort").match([typo]) == []


def test_threshold_separates_a_typo_from_an_exact_name(sdn: ScreeningList) -> None:
    typo = "Banco Nacional de Cubx"
    (hit,) = Screener(sdn.entries).match([typo])
    assert hit.entry.entry_id == "306" and DEFAULT_THRESHOLD <= hit.score < 100.0
    assert Screener(sdn.entries, threshold=100.0).match([typo]) == []


def test_weak_aliases_match_only_exactly(sdn: ScreeningList) -> None:
    lenient = Screener(sdn.entries, threshold=60.0)
    assert [m.entry.entry_id for m in lenient.match(["B.N.C."])][:1] == ["306"]
    assert "306" not in {m.entry.entry_id for m in lenient.match(["BNK"], limit=None)}


def test_individuals_match_in_either_name_order(sdn_screener: Screener) -> None:
    (hit, *_) = sdn_screener.match(["Abu Abbas"])
    assert (hit.matched_name, hit.entry.entry_type, hit.score) == (
        "ABBAS, Abu",
        "individual",
        100.0,
    )


def test_limit_caps_the_number_of_matches(sdn: ScreeningList) -> None:
    lenient = Screener(sdn.entries, threshold=70.0)
    assert len(lenient.match(["Trading Company"], limit=None)) > 3
    assert len(lenient.match(["Trading Company"], limit=3)) == 3


def test_unscreenable_names_and_thresholds_are_rejected(sdn_screener: Screener) -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        sdn_screener.match(["Acme", "---"])
    with pytest.raises(ValueError, match="threshold"):
        Screener([], threshold=0.0)


def test_matching_one_organisation_against_the_sdn_list_is_fast(sdn_screener: Screener) -> None:
    names = ["Lockheed Martin Corporation", "Lockheed Martin", "LMT"]
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        sdn_screener.match(names)
        timings.append(time.perf_counter() - start)
    assert sorted(timings)[len(timings) // 2] < 0.050
