"""Competitor names: where the list comes from, exact hits, and hits by sound."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.insights._phonetic import (
    PHONETIC_MAX,
    PhoneticName,
    common_words,
    key,
    sounds,
)
from callvault.analysis.insights._records import CallFacts
from callvault.analysis.insights._trackers import TrackerParams, run, words_of
from callvault.config import load_config
from callvault.errors import ConfigError
from callvault.services.insights import competitor_names, insight_params, load_trackers_file

DOCS = Path(__file__).parents[3] / "docs"
NAMES = ("Acme Dialer", "Zentra")


def utt(speaker: str, start: float, text: str) -> Utterance:
    words = tuple(
        Word(start + i * 0.5, start + i * 0.5 + 0.4, w, 0.9) for i, w in enumerate(text.split())
    )
    return Utterance(speaker, None, start, start + 0.5 * len(words), text, 0.9, words)


def call(*texts: str, language: str | None = "en") -> Transcript:
    utterances = tuple(utt("B", 10.0 * i, text) for i, text in enumerate(texts))
    return Transcript("done", language, "test", "1", utterances, True)


FACTS = CallFacts(duration=60.0, roles={"A": "agent", "B": "customer"})


def competitor_hits(
    transcript: Transcript, names: tuple[str, ...] = NAMES, *, phonetic: bool = True
) -> list[tuple[str, str, str | None, float]]:
    params = TrackerParams(competitors=names, builtin=False, compliance=None, phonetic=phonetic)
    return [
        (h.phrase, h.match, h.heard, round(h.confidence, 2))
        for h in run(transcript, FACTS, params).hits
    ]


# -- matching -----------------------------------------------------------------------------


def test_an_exact_hit_says_so() -> None:
    transcript = call("We looked at Acme Dialer and zentra last year.")
    params = TrackerParams(competitors=NAMES, builtin=False, compliance=None)
    hits = run(transcript, FACTS, params).hits
    assert [(h.tracker, h.kind, h.phrase, h.match, h.heard, h.confidence) for h in hits] == [
        ("competitor", "competitor", "Acme Dialer", "exact", None, 1.0),
        ("competitor", "competitor", "Zentra", "exact", None, 1.0),
    ]
    assert hits[0].to_json()["match"] == "exact"
    assert hits[0].to_json()["heard"] is None


@pytest.mark.parametrize(
    ("text", "name", "heard"),
    [
        # The benchmark's recogniser: "Acme Dialer" split and heard with an "h" and an "n".
        ("Honestly Hackman Iler quoted us less.", "Acme Dialer", "hackman iler"),
        ("We went with acne dealer last year.", "Acme Dialer", "acne dealer"),
        ("Acme dialler gives us that already.", "Acme Dialer", "acme dialler"),
        ("We compared it with Sentra yesterday.", "Zentra", "sentra"),
        ("We compared it with zen tra yesterday.", "Zentra", "zen tra"),
    ],
)
def test_a_misheard_name_is_a_phonetic_hit(text: str, name: str, heard: str) -> None:
    ((phrase, match, got, confidence),) = competitor_hits(call(text))
    assert (phrase, match, got) == (name, "phonetic", heard)
    assert 0.5 < confidence <= PHONETIC_MAX < 0.8


def test_the_phonetic_hit_carries_time_speaker_and_a_lower_confidence() -> None:
    transcript = call("Honestly Hackman Iler quoted us less.")
    params = TrackerParams(competitors=NAMES, builtin=False, compliance=None)
    (hit,) = run(transcript, FACTS, params).hits
    assert (hit.time, hit.speaker, hit.role, hit.utterances) == (0.5, "B", "customer", (0,))
    assert hit.confidence == pytest.approx(0.59, abs=0.01)
    data = hit.to_json()
    assert (data["match"], data["heard"], data["tracker"]) == (
        "phonetic",
        "hackman iler",
        "competitor",
    )


@pytest.mark.parametrize(
    "text",
    [
        "Actually our mentor said the central office handles it.",
        "The call center and the dealer network are in the centre of town.",
        "Our sender is Sandra, she is the contact for the account.",  # key equals Zentra's
        "I'll work with us on the price.",  # the benchmark's miss: shares no sounds
        "A [PERSON] from [CREDIT_CARD] called.",
    ],
)
def test_everyday_words_are_no_competitor(text: str) -> None:
    assert competitor_hits(call(text)) == []
    assert competitor_hits(call(text, language=None)) == []


def test_zentral_is_a_german_word_but_not_an_english_one() -> None:
    assert competitor_hits(call("Das ist zentral für uns.", language="de")) == []
    assert competitor_hits(call("Das ist zentral für uns.", language=None)) == []
    assert competitor_hits(call("We heard zentral is cheaper.", language="en")) == [
        ("Zentra", "phonetic", "zentral", 0.65)
    ]


def test_an_exact_hit_hides_the_phonetic_one_and_names_do_not_inflect() -> None:
    # "zentra" is exact; "Acmes" is not the name Acme and does not sound like a longer one.
    assert competitor_hits(call("zentra", "Acmes"), ("Zentra", "Acme")) == [
        ("Zentra", "exact", None, 1.0)
    ]


def test_phonetic_matching_can_be_turned_off() -> None:
    assert competitor_hits(call("Honestly Hackman Iler quoted us."), phonetic=False) == []


def test_short_names_match_exactly_only() -> None:
    name = PhoneticName.of("Aira", ["aira"])
    assert not name.usable
    assert competitor_hits(call("We use Ayra and Aira."), ("Aira",)) == [
        ("Aira", "exact", None, 1.0)
    ]


def test_keys_and_sound_spelling() -> None:
    assert key("acmedialer") == "AKMTLR"
    assert key("hackmaniler") == "AKMNLR"
    assert key("zentra") == key("sentra") == key("centra") == "SNTR"
    assert sounds("Schmidt") == "xmidt"
    assert sounds("Philips") == "filips"
    assert key("") == ""
    assert {"actually", "mentor", "central"} <= common_words("en")
    assert "zentral" in common_words("de-DE") and "zentral" not in common_words("en")
    assert "zentral" in common_words(None)


def test_phonetic_matching_is_in_the_stamp() -> None:
    params = TrackerParams(competitors=NAMES, builtin=False, compliance=None)
    stamp = run(call("hello"), FACTS, params).stamp
    assert stamp.version == "4"
    assert stamp.params["phonetic"] is True
    assert stamp.params["competitors"] == list(NAMES)


# -- where the names come from --------------------------------------------------------------


def test_no_configuration_finds_no_competitor(tmp_path: Path) -> None:
    config = load_config(env={"CALLVAULT_DATA_DIR": str(tmp_path)})
    assert config.competitors == ()
    params = insight_params(config)
    assert params.trackers.competitors == ()
    transcript = call("We use Acme Dialer and Zentra, and Hackman Iler too.")
    assert run(transcript, FACTS, params.trackers).counts().get("competitor") is None


def test_the_setting_is_parsed() -> None:
    config = load_config(env={"CALLVAULT_COMPETITORS": " Acme  Dialer , Zentra,,acme dialer "})
    assert config.competitors == ("Acme Dialer", "Zentra")
    with pytest.raises(ConfigError, match="CALLVAULT_COMPETITORS="):
        load_config(env={"CALLVAULT_COMPETITORS": "Acme, --"})


def test_the_setting_is_documented() -> None:
    doc = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert re.search(r"^\| `competitors` \| `CALLVAULT_COMPETITORS` \|", doc, flags=re.M)


def test_names_come_from_the_setting_and_the_trackers_file(tmp_path: Path) -> None:
    trackers = tmp_path / "trackers.toml"
    trackers.write_text('competitors = ["ZENTRA", "Globex"]\n', encoding="utf-8")
    config = load_config(
        env={
            "CALLVAULT_DATA_DIR": str(tmp_path),
            "CALLVAULT_TRACKERS": str(trackers),
            "CALLVAULT_COMPETITORS": "Acme Dialer, Zentra",
        }
    )
    params = insight_params(config).trackers
    assert params.competitors == ("Acme Dialer", "Zentra", "Globex")
    assert params.phonetic is True

    only_setting = load_config(
        env={"CALLVAULT_DATA_DIR": str(tmp_path), "CALLVAULT_COMPETITORS": "Zentra"}
    )
    assert insight_params(only_setting).trackers.competitors == ("Zentra",)


def test_competitor_names_are_counted_once() -> None:
    assert competitor_names(["Acme Dialer", "Zentra"], ["acme-dialer", "Globex"]) == (
        "Acme Dialer",
        "Zentra",
        "Globex",
    )


def test_the_trackers_file_can_turn_phonetic_matching_off(tmp_path: Path) -> None:
    path = tmp_path / "trackers.toml"
    path.write_text('competitors = ["Zentra"]\ncompetitors_phonetic = false\n', encoding="utf-8")
    assert load_trackers_file(path).phonetic is False
    path.write_text('competitors_phonetic = "no"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="competitors_phonetic must be true or false"):
        load_trackers_file(path)


def test_the_example_trackers_file_loads() -> None:
    params = load_trackers_file(DOCS / "trackers.example.toml")
    assert params.competitors == ("Acme Dialer", "Zentra")
    assert params.phonetic is True
    assert [spec.name for spec in params.trackers] == ["pricing-question"]
    assert words_of("Acme Dialer") == ["acme", "dialer"]
