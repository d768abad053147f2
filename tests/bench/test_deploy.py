"""docs/deploy.md and deploy/ stay honest: every CALLVAULT_* variable they name is a
setting, every `callvault` command they run exists, the compose file has the services the
page describes, and the README links the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callvault.cli import cli
from callvault.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PAGE = ROOT / "docs" / "deploy.md"


def deploy_files() -> list[Path]:
    return [PAGE, *sorted(p for p in DEPLOY.rglob("*") if p.is_file())]


def test_every_variable_named_is_a_setting() -> None:
    known = {setting.env for setting in SETTINGS}
    named = {
        (path.relative_to(ROOT).as_posix(), name)
        for path in deploy_files()
        for name in re.findall(r"\bCALLVAULT_[A-Z0-9_]+", path.read_text())
    }
    assert named, "no CALLVAULT_* variable found: the pattern or the files moved"
    assert sorted(f"{where}: {name}" for where, name in named if name not in known) == []


def commands_run() -> set[tuple[str, str]]:
    """(file, first word after `callvault`) for every callvault command in deploy/."""
    found = set()
    for path in deploy_files():
        text = path.read_text()
        where = path.relative_to(ROOT).as_posix()
        # bin/callvault serve ..., `callvault keys rotate`, ENTRYPOINT ["callvault"] + CMD
        for match in re.finditer(r"(?:bin/|`)callvault (?:-\S+ )*([a-z][a-z-]*)", text):
            found.add((where, match.group(1)))
        # compose: command: ["serve", ...] under the callvault image's entrypoint
        for match in re.finditer(r'(?:command|CMD):? \[\s*"([a-z-]+)"', text):
            found.add((where, match.group(1)))
    return found


def test_every_command_run_exists() -> None:
    known = set(cli.commands)
    found = commands_run()
    assert {"serve", "worker", "init"} <= {name for _, name in found}
    # Non-callvault images in compose (redis-server, server of MinIO) are not ours.
    foreign = {"redis-server", "server"}
    unknown = sorted(f"{w}: {n}" for w, n in found if n not in known and n not in foreign)
    assert unknown == []


def test_compose_has_the_described_services() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {
        "postgres",
        "redis",
        "minio",
        "callvault-init",
        "serve-1",
        "serve-2",
        "worker-asr",
        "worker-light",
        "lb",
    } <= set(services)
    for name in ("serve-1", "serve-2", "worker-asr", "worker-light"):
        service = services[name]
        assert service["depends_on"]["callvault-init"] == {
            "condition": "service_completed_successfully"
        }
        # The keys come from the one volume, read-only outside init.
        assert "callvault-keys:/var/lib/callvault/keys:ro" in service["volumes"]
        assert service["environment"]["CALLVAULT_QUEUE"].startswith("redis://")
    assert "callvault-keys:/var/lib/callvault/keys" in services["callvault-init"]["volumes"]
    assert services["worker-asr"]["command"][:3] == ["worker", "--queues", "asr,analysis,redaction"]
    assert services["worker-light"]["command"][:3] == ["worker", "--queues", "webhooks,maintenance"]
    proxies = services["serve-1"]["environment"]["CALLVAULT_TRUSTED_PROXIES"]
    assert proxies == services["lb"]["networks"]["callvault"]["ipv4_address"]
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert "serve-1:8000 serve-2:8000" in caddy and "health_uri /readyz" in caddy


def test_metric_names_on_the_page_exist() -> None:
    source = (ROOT / "src" / "callvault" / "api" / "app.py").read_text()
    exported = set(re.findall(r'"(callvault_[a-z_]+)"', source))
    named = set(re.findall(r"`(callvault_[a-z_]+)", PAGE.read_text()))
    assert named and named <= exported


def test_readme_links_the_page() -> None:
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text()
