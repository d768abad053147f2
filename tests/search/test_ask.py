"""callvault.search._ask: the extractive answer (ranking, duplicates, nothing found) and
the LLM wording against a local stand-in server (tests/_fake_llm.py)."""

from __future__ import annotations

import pytest

from _fake_llm import fake_llm
from callvault.errors import InputError
from callvault.search import (
    NOTHING_FOUND,
    Answer,
    Quote,
    Retrieved,
    compose_answer,
    llm_answer,
    llm_prompt,
)
from callvault.search._ask import content_words, question_cue


def q(call: str, n: int, text: str, role: str = "customer") -> Quote:
    return Quote(call, n, role, role, n * 5.0, n * 5.0 + 4.0, text)


TRANSFER = [
    q("c1", 0, "hi my name is robert i would like to transfer money between my accounts"),
    q("c1", 1, "oh sure i can help you with that", "agent"),
    q("c1", 2, "uh what is the transfer amount", "agent"),
    q("c1", 3, "uh the amount is one hundred and thirty five dollars"),
    q("c1", 4, "okay what is the source of the account", "agent"),
]


def around(lines: list[Quote], n: int, retrieval: float, **kw: object) -> Retrieved:
    context = tuple(x for x in lines if x.utterance != n and abs(x.utterance - n) <= 2)
    return Retrieved(lines[n], retrieval, context=context, **kw)  # type: ignore[arg-type]


def test_words_and_cues() -> None:
    assert content_words("How much money was transferred?") == {"much", "money", "transfer"}
    assert question_cue("How much was transferred?") == "amount"
    assert question_cue("When does the card arrive?") == "time"
    assert question_cue("Who called about the refund?") == "name"
    assert question_cue("Why did she cancel?") == "reason"
    assert question_cue("Which card was lost?") is None


def test_ranking_picks_the_utterance_with_the_answer_from_the_context() -> None:
    # The search found the agent's question best; the answer is the reply after it.
    retrieved = [
        around(TRANSFER, 2, 0.9, methods=("semantic",), cosine=0.88),
        around(TRANSFER, 0, 0.6, methods=("semantic",), cosine=0.85),
    ]
    answer = compose_answer("what amount was transferred", retrieved, quotes=2)
    assert answer.method == "extractive" and answer.note is None
    assert answer.quotes[0].text == TRANSFER[3].text
    assert answer.quotes[0].utterance == 3 and answer.quotes[0].start == 15.0
    assert answer.text.startswith(f"«{TRANSFER[3].text}» [1]")
    assert answer.text.endswith("(see also [2])")
    assert 0 < answer.confidence <= 1
    assert [x.score for x in answer.quotes] == sorted(
        (x.score for x in answer.quotes), reverse=True
    )


def test_near_duplicates_and_quotes_per_call_are_limited() -> None:
    lines = [
        q("c1", 0, "i lost my debit card"),
        q("c1", 1, "my debit card"),
        q("c1", 2, "my debit card"),
        q("c1", 3, "the debit card is gone i think"),
    ]
    other = [q("c2", 0, "my debit card was stolen yesterday")]
    retrieved = [Retrieved(x, 0.8, ("fts",)) for x in lines] + [Retrieved(other[0], 0.5, ("fts",))]
    answer = compose_answer("which debit card", retrieved, quotes=3, per_call=2)
    texts = [x.text for x in answer.quotes]
    assert texts.count("my debit card") == 1
    assert sum(x.call_id == "c1" for x in answer.quotes) == 2
    assert answer.quotes[-1].call_id == "c2"


def test_nothing_relevant_means_nothing_found_and_no_quote() -> None:
    weather = [Retrieved(q("c1", 0, "the weather is nice today"), 1.0, ("semantic",), 0.75)]
    for retrieved in ([], weather):
        answer = compose_answer("how much money was transferred", retrieved)
        assert answer == Answer(NOTHING_FOUND, (), "extractive", 0.0)
        assert not answer.found
    # Close in meaning alone is enough above MIN_COSINE.
    close = [Retrieved(q("c1", 0, "it is far too pricey"), 0.5, ("semantic",), 0.9)]
    assert compose_answer("was it expensive", close).quotes[0].text == "it is far too pricey"


def test_noise_is_never_quoted_and_bad_arguments_are_refused() -> None:
    noise = [Retrieved(q("c1", 0, "[noise]"), 1.0, ("fts",))]
    assert compose_answer("noise", noise).quotes == ()
    with pytest.raises(InputError, match="the question is empty"):
        compose_answer("  ", [])
    with pytest.raises(InputError, match="quotes must be between 1 and 20, not 0"):
        compose_answer("why", [], quotes=0)
    with pytest.raises(InputError, match="per_call must be between 1 and 2, not 3"):
        compose_answer("why", [], quotes=2, per_call=3)


def _extractive() -> Answer:
    retrieved = [around(TRANSFER, 2, 0.9, methods=("fts", "semantic"), cosine=0.88)]
    answer = compose_answer("what amount was transferred", retrieved, quotes=3, per_call=3)
    assert len(answer.quotes) == 3
    return answer


def test_llm_citations_are_kept_only_where_they_name_a_given_quote() -> None:
    extractive = _extractive()
    reply = "It was one hundred and thirty five dollars [2][7], as agreed [0] in [2] and [1]."
    with fake_llm(reply) as server:
        answer = llm_answer(
            server.url, "what amount was transferred", extractive, model="m", api_key="k1"
        )
    assert answer.method == "llm" and answer.note == "worded by m"
    # [2] becomes [1], [1] becomes [2]; [7] and [0] named no quote and are gone.
    assert (
        answer.text == "It was one hundred and thirty five dollars [1], as agreed in [1] and [2]."
    )
    assert answer.quotes == (extractive.quotes[1], extractive.quotes[0])
    request = server.requests[0]
    assert request["model"] == "m" and request["temperature"] == 0
    assert request["messages"] == llm_prompt("what amount was transferred", extractive.quotes)
    assert server.headers[0]["Authorization"] == "Bearer k1"
    for n, quote in enumerate(extractive.quotes, start=1):
        assert f"[{n}] ({quote.role}) {quote.text}" in server.sent_text()
    # Only the quotes: an utterance of the context that was not quoted is not sent.
    quoted = {x.text for x in extractive.quotes}
    for line in TRANSFER:
        assert (line.text in server.sent_text()) == (line.text in quoted)


def test_llm_failures_fall_back_to_the_extractive_answer() -> None:
    extractive = _extractive()
    with fake_llm("no citation here") as server:
        uncited = llm_answer(server.url, "what amount", extractive, model="m")
        assert uncited.method == "extractive" and uncited.text == extractive.text
        assert uncited.note == "LLM answer cited no quote; the quotes are shown instead"
        server.status = 500
        failed = llm_answer(server.url, "what amount", extractive, model="m")
        assert failed.note == "LLM unavailable: HTTP 500" and failed.quotes == extractive.quotes
        server.status, server.delay = 200, 1.5
        slow = llm_answer(server.url, "what amount", extractive, model="m", timeout=0.3)
        assert slow.note == "LLM unavailable: no reply within 0.3 s"
        assert slow.method == "extractive" and slow.text == extractive.text
        assert "Authorization" not in server.headers[0]
    # Nobody listening: refused at once.
    with fake_llm() as gone:
        url = gone.url
    refused = llm_answer(url, "what amount", extractive, model="m", timeout=2)
    assert refused.note == "LLM unavailable: ConnectError"


def test_llm_is_not_asked_without_quotes() -> None:
    with fake_llm() as server:
        nothing = compose_answer("how much", [])
        assert llm_answer(server.url, "how much", nothing, model="m") is nothing
    assert server.requests == []
