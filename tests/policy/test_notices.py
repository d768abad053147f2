"""Notices: every language present and filled in, Serbian in both scripts, spoken WAVs."""

from __future__ import annotations

import os
import shutil
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from callvault.errors import InputError
from callvault.policy import (
    NOTICE_LANGUAGES,
    Jurisdiction,
    NoticeOptions,
    choose_language,
    jurisdiction_of,
    render_notice,
    speak_notice,
    transliterate_serbian,
)

FIELDS = ("spoken", "written", "refusal_continue", "refusal_end", "reach", "reach_in_call")


def _raw(language: str) -> dict[str, str]:
    path = resources.files("callvault.policy").joinpath("data", "notices", f"{language}.toml")
    return tomllib.loads(path.read_text("utf-8"))


def test_the_languages() -> None:
    assert NOTICE_LANGUAGES == ("en", "de", "sr-Latn", "sr-Cyrl", "hr", "fr", "es")


@pytest.mark.parametrize("language", NOTICE_LANGUAGES)
def test_each_language_file_is_complete(language: str) -> None:
    data = _raw(language)
    assert data["language"] == language
    assert set(data) == {"language", "name", *FIELDS}
    for name in ("spoken", "written"):
        for placeholder in ("{organisation}", "{refusal}", "{reach}"):
            assert placeholder in data[name], (name, placeholder)
    for name in ("refusal_continue", "refusal_end"):
        assert "{key}" in data[name]
    assert "{contact}" in data["reach"]
    assert "{" not in data["reach_in_call"]


@pytest.mark.parametrize("language", NOTICE_LANGUAGES)
@pytest.mark.parametrize("on_refusal", ["continue", "end"])
@pytest.mark.parametrize("contact", ["privacy@example.com, +44 20 7946 0000", None])
def test_notice_is_filled_in(language: str, on_refusal: str, contact: str | None) -> None:
    options = NoticeOptions(contact=contact, opt_out_key="7", on_refusal=on_refusal)  # type: ignore[arg-type]
    notice = render_notice(language, organisation="Acme d.o.o.", options=options)
    assert notice.language == language
    for text in (notice.spoken, notice.written):
        assert "{" not in text and "}" not in text
        assert "Acme d.o.o." in text
        assert "7" in text
        if contact:
            assert contact in text
    assert len(notice.written) > 3 * len(notice.spoken)  # short announcement, long notice


def test_texts_differ_by_refusal_and_contact() -> None:
    go_on = render_notice("en", organisation="Acme")
    end = render_notice("en", organisation="Acme", options=NoticeOptions(on_refusal="end"))
    assert "continues without recording" in go_on.spoken
    assert "the call then ends" in end.spoken
    assert "ask the person you are speaking with" in go_on.spoken
    reach = render_notice("en", organisation="Acme", options=NoticeOptions(contact="dpo@acme"))
    assert "contact us: dpo@acme." in reach.written


def test_braces_in_values_are_not_placeholders() -> None:
    notice = render_notice(
        "de", organisation="{refusal} AG", options=NoticeOptions(contact="{organisation}")
    )
    assert notice.spoken.startswith("Dieses Gespräch mit {refusal} AG wird aufgezeichnet")


def test_unknown_language_and_empty_organisation() -> None:
    with pytest.raises(InputError, match=r"no notice in 'it'; available: en, de, sr-Latn"):
        render_notice("it", organisation="Acme")
    with pytest.raises(InputError, match=r"organisation is empty"):
        render_notice("en", organisation="  ")


# Serbian in both scripts ---------------------------------------------------------------


def test_serbian_cyrillic_is_the_transliterated_latin() -> None:
    latin, cyrillic = _raw("sr-Latn"), _raw("sr-Cyrl")
    for name in FIELDS:
        assert cyrillic[name] == transliterate_serbian(latin[name]), name
    # an organisation name already in Cyrillic passes through transliteration unchanged
    rendered_latin = render_notice("sr-Latn", organisation="Телеком")
    rendered_cyrillic = render_notice("sr-Cyrl", organisation="Телеком")
    assert rendered_cyrillic.written == transliterate_serbian(rendered_latin.written)


def test_cyrillic_notice_has_no_latin_letters_besides_the_organisation() -> None:
    written = render_notice("sr-Cyrl", organisation="ACME").written.replace("ACME", "")
    assert not any("a" <= char.lower() <= "z" for char in written)


def test_transliteration() -> None:
    assert transliterate_serbian("Njegova ljubav, džep i NJIVA") == "Његова љубав, џеп и ЊИВА"
    assert transliterate_serbian("Šta, čuvamo, ćirilica, Đorđe, žao") == (
        "Шта, чувамо, ћирилица, Ђорђе, жао"
    )
    assert transliterate_serbian("snima {organisation} x") == "снима {organisation} x"


# Choosing the language -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numbers", "language"),
    [
        (["+493012345678"], "de"),
        (["+43158858"], "de"),
        (["+41446681800"], "de"),
        (["+381112345678"], "sr-Latn"),
        (["+38512345678"], "hr"),
        (["+33142685300"], "fr"),
        (["+3212345678"], "fr"),
        (["+15145550100"], "fr"),
        (["+34912345678"], "es"),
        (["+522001234567"], "es"),
        (["+541123456789"], "es"),
        (["+442071234567"], "en"),
        (["+14165550100"], "en"),
        (["+81312345678"], "en"),
        (["+44207", "+34912345678"], "es"),  # the first is invalid: its country is unknown
        (["+18005550100", "+34912345678"], "en"),  # toll-free: the country (US) is known
        ([], "en"),
    ],
)
def test_language_by_country(numbers: list[str], language: str) -> None:
    jurisdictions = [jurisdiction_of(n) for n in numbers]
    assert choose_language(None, jurisdictions)[0] == language


def test_requested_language() -> None:
    unknown = [Jurisdiction("unknown")]
    assert choose_language("sr-Cyrl", unknown) == ("sr-Cyrl", "sr-Cyrl: requested (sr-Cyrl)")
    assert choose_language("SR_latn", unknown)[0] == "sr-Latn"
    assert choose_language("fr-CA", unknown)[0] == "fr"
    assert choose_language("pt-BR", unknown) == (
        "en",
        "en: pt-BR has no notice; no participant's country known",
    )


# Speaking ------------------------------------------------------------------------------


def _require_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "espeak-ng is not installed; CI must install it (apt-get install espeak-ng)"
            )
        pytest.skip("espeak-ng is not installed")


@pytest.mark.parametrize("language", NOTICE_LANGUAGES)
def test_speak_notice_writes_a_wav(language: str, tmp_path: Path) -> None:
    _require_espeak()
    text = render_notice(language, organisation="Acme").spoken
    out = speak_notice(text, language, tmp_path / f"{language}.wav")
    assert out == tmp_path / f"{language}.wav"
    data = out.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert len(data) > 20_000  # several seconds of speech, not just a header


def test_speak_notice_without_espeak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert speak_notice("Hello", "en", tmp_path / "out.wav") is None
    assert not (tmp_path / "out.wav").exists()


def test_speak_notice_unknown_language(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no voice for 'it'"):
        speak_notice("Ciao", "it", tmp_path / "out.wav")
