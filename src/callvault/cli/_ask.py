"""`callvault ask "QUESTION"`: an answer quoting the utterances of the calls that answer
it, each with where it is in its call (issue 22)."""

from __future__ import annotations

import click

from callvault.capture import parse_language
from callvault.cli._common import config_of, echo_json
from callvault.cli._search import _date
from callvault.search import Answer
from callvault.services import ask_calls, open_context

__all__ = ["ask", "format_answer"]


def _at(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes:02d}:{rest:02d}"


def format_answer(answer: Answer) -> list[str]:
    """The answer, then its quotes numbered as cited: ``[1] CALL 01:23 agent: «...»``."""
    lines = [answer.text]
    if answer.quotes:
        lines.append("")
    for n, q in enumerate(answer.quotes, start=1):
        lines.append(f"[{n}] {q.call_id} {_at(q.start)} {q.role or q.speaker}: «{q.text}»")
    return lines


@click.command()
@click.argument("question")
@click.option("--agent", metavar="USER", help="Only calls of this agent.")
@click.option("--since", metavar="DATE", help="Calls that started on or after (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Calls that started before (YYYY-MM-DD).")
@click.option("--language", metavar="xx", help="Only transcripts in this language.")
@click.option(
    "--role",
    metavar="ROLE",
    help="Only what this party said: agent, customer, caller, callee.",
)
@click.option(
    "--limit", type=click.IntRange(1, 20), default=3, show_default=True, help="Most quotes."
)
@click.option("--purpose", help="Why you are asking (written to the audit log).")
@click.option("--no-llm", is_flag=True, help="Answer by quotes only, even with an LLM set.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    agent: str | None,
    since: str | None,
    until: str | None,
    language: str | None,
    role: str | None,
    limit: int,
    purpose: str | None,
    no_llm: bool,
    as_json: bool,
) -> None:
    """Ask your calls a question ("how much was transferred?"): the answer quotes the
    utterances it rests on, numbered, each with its call and the time in the call.

    Found by full-text and semantic search over the transcripts you may read. With
    CALLVAULT_ASK_LLM_URL set, an LLM words the answer from the quotes (they are sent
    to it); otherwise, or when it fails, the best quote is the answer. Audited without
    the question.
    """
    with open_context(config_of(ctx)) as svc:
        answer = ask_calls(
            svc,
            question,
            agent=agent,
            since=_date(since, "--since"),
            until=_date(until, "--until"),
            language=parse_language(language) if language else None,
            speaker_role=role,
            limit=limit,
            purpose=purpose,
            llm=not no_llm,
        )
    if as_json:
        echo_json(answer.to_json())
        return
    for line in format_answer(answer):
        click.echo(line)
    if answer.note:
        click.echo(f"note: {answer.note}", err=True)
