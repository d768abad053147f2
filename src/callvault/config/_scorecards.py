"""The setting of scorecards (issue 22): which rubric scores every processed call."""

from __future__ import annotations

from pathlib import Path

from callvault.config._values import Setting

__all__ = ["SCORECARD_SETTINGS", "parse_rubric_setting"]


def parse_rubric_setting(raw: str) -> str:
    """ "default" (the bundled rubric), "off", or the path of a rubric TOML file; the file's
    content is checked when the workers start (`services.scorecards.check_rubric`)."""
    value = raw.strip()
    if value.lower() in ("default", "off"):
        return value.lower()
    if not value:
        raise ValueError('expected "default", "off" or the path of a rubric TOML file')
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"no rubric file at {path} (or use default or off)")
    return str(path)


SCORECARD_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "scorecard_rubric",
        "The rubric every call is scored against after processing (docs/scorecards.md): "
        "default (the bundled one), off, or the path of a rubric TOML file. A bad rubric "
        "stops the workers from starting.",
        parse_rubric_setting,
        lambda: "default",
    ),
)
