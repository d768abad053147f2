from __future__ import annotations

import re
from pathlib import Path

import pytest

from callvault.config import SETTINGS, http_host, load_config, mask_url, masked_values
from callvault.errors import ConfigError

DOC = Path(__file__).parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented_and_nothing_else() -> None:
    rows = re.findall(r"^\| `(\w+)` \| `(CALLVAULT_\w+)` \|", DOC.read_text(), flags=re.M)
    assert sorted(rows) == sorted((s.name, s.env) for s in SETTINGS)
    for setting in SETTINGS:
        assert setting.help.strip(), setting.name


def test_defaults_and_parsing(tmp_path: Path) -> None:
    config = load_config(
        env={
            "CALLVAULT_DATA_DIR": str(tmp_path),
            "CALLVAULT_CHUNK_SIZE": "64KiB",
            "CALLVAULT_MAX_INPUT_BYTES": "2G",
            "CALLVAULT_LOG_LEVEL": "info",
        }
    )
    assert config.data_dir == tmp_path
    assert config.chunk_size == 64 << 10
    assert config.max_input_bytes == 2 << 30
    assert config.log_level == "INFO"
    assert config.effective_database_url == f"sqlite:///{tmp_path / 'callvault.db'}"
    assert load_config(env={}).max_input_bytes == 4 << 30


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CALLVAULT_CHUNK_SIZE": "1"},
            "CALLVAULT_CHUNK_SIZE='1' is not valid: must be between 4KiB and 16MiB",
        ),
        (
            {"CALLVAULT_MAX_INPUT_BYTES": "lots"},
            "CALLVAULT_MAX_INPUT_BYTES='lots' is not valid: "
            "expected a byte count such as 4096, 64MiB or 2GiB",
        ),
        (
            {"CALLVAULT_LOG_LEVEL": "loud"},
            "CALLVAULT_LOG_LEVEL='loud' is not valid: expected one "
            "of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    assert str(info.value) == message


def test_password_is_masked() -> None:
    config = load_config(env={"CALLVAULT_DATABASE_URL": "postgresql+psycopg://cv:s3cret@db/cv"})
    shown = dict((s.name, v) for s, v in masked_values(config))
    assert shown["database_url"] == "postgresql+psycopg://cv:****@db/cv"
    assert "s3cret" not in repr(masked_values(config))


def test_credentials_in_every_url_setting_are_masked() -> None:
    # Issue 17: `config` printed the credentials embedded in webhook and LLM URLs.
    config = load_config(
        env={
            "CALLVAULT_DATABASE_URL": "postgresql+psycopg://cv:p@ss/w0rd@db:5432/cv",
            "CALLVAULT_LLM_URL": "https://llm-user:llm-pass@llm.internal/v1",
            "CALLVAULT_WEBHOOK_URLS": (
                "https://hook:hook-pass@crm.example/in,"
                "https://tok3n-only@hooks.example/x,"
                "https://events.example/in?api_key=k3y-value&team=sales"
            ),
            "CALLVAULT_WEBHOOK_SECRET": "whsecret",
            "CALLVAULT_ASR_MODELS": "en=https://mirror-user:mirror-pass@models.example/tiny",
        }
    )
    shown = dict((s.name, v) for s, v in masked_values(config))
    assert shown["database_url"] == "postgresql+psycopg://cv:****@db:5432/cv"
    assert shown["llm_url"] == "https://llm-user:****@llm.internal/v1"
    assert shown["webhook_urls"] == (
        "https://hook:****@crm.example/in,"
        "https://****@hooks.example/x,"
        "https://events.example/in?api_key=****&team=sales"
    )
    assert shown["webhook_secret"] == "****"
    assert shown["asr_models"] == "en=https://mirror-user:****@models.example/tiny"
    printed = repr(masked_values(config))
    for secret in ("p@ss", "w0rd", "llm-pass", "hook-pass", "tok3n", "k3y", "mirror-pass"):
        assert secret not in printed


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@broker:6379/0", "redis://:****@broker:6379/0"),
        ("amqp://guest:gu?st#1@rabbit//", "amqp://guest:****@rabbit//"),
        ("https://host.example/path@v2", "https://host.example/path@v2"),
        ("sqlite:////srv/data/callvault.db", "sqlite:////srv/data/callvault.db"),
        ("https://h/x?access_token=abc;sig=def#top", "https://h/x?access_token=****;sig=****#top"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_trusted_proxies_and_cookie_secure() -> None:
    config = load_config(env={"CALLVAULT_TRUSTED_PROXIES": "127.0.0.1, 10.1.0.0/16,::1"})
    assert [str(n) for n in config.trusted_proxies] == ["127.0.0.1/32", "10.1.0.0/16", "::1/128"]
    assert config.cookie_secure == "auto"
    assert load_config(env={}).trusted_proxies == ()
    with pytest.raises(ConfigError) as info:
        load_config(env={"CALLVAULT_TRUSTED_PROXIES": "proxy.example"})
    assert str(info.value) == (
        "CALLVAULT_TRUSTED_PROXIES='proxy.example' is not valid: 'proxy.example' is not an IP "
        "address or network; expected e.g. 10.0.0.5,10.1.0.0/16"
    )
    with pytest.raises(ConfigError):
        load_config(env={"CALLVAULT_COOKIE_SECURE": "maybe"})


def test_asr_models_and_ranges() -> None:
    config = load_config(
        env={"CALLVAULT_ASR_MODELS": "en=/m/small, DE = whisper-base", "CALLVAULT_WORKERS": "3"}
    )
    assert config.asr_models == {"en": "/m/small", "de": "whisper-base"}
    assert config.workers == 3
    assert load_config(env={}).asr_models == {}
    with pytest.raises(ConfigError) as info:
        load_config(env={"CALLVAULT_ASR_MODELS": "en"})
    assert str(info.value) == (
        "CALLVAULT_ASR_MODELS='en' is not valid: expected language=model pairs separated by "
        "commas, got 'en'"
    )
    with pytest.raises(ConfigError) as info:
        load_config(env={"CALLVAULT_ASR_BEAM_SIZE": "0"})
    assert str(info.value) == (
        "CALLVAULT_ASR_BEAM_SIZE='0' is not valid: expected a whole number from 1 to 10"
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://crm.example.com/hook", "crm.example.com"),
        ("http://127.0.0.1:8080/x", "127.0.0.1"),
        ("ftp://crm.example.com/hook", None),
        ("https:///no-host", None),
        ("crm.example.com/hook", None),
        ("", None),
    ],
)
def test_webhook_urls_must_be_http_with_a_host(url: str, host: str | None) -> None:
    assert http_host(url) == host
    env = {"CALLVAULT_WEBHOOK_URLS": url, "CALLVAULT_WEBHOOK_SECRET": "s"}
    if host is None and url:
        with pytest.raises(ConfigError, match="each URL must be http:// or https:// with a host"):
            load_config(env=env)
    else:
        assert load_config(env=env).webhook_urls == ((url,) if url else ())


def test_webhook_urls_without_a_secret_are_refused_at_load() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"CALLVAULT_WEBHOOK_URLS": "https://crm.example.com/hook"})
    assert str(info.value) == (
        "CALLVAULT_WEBHOOK_URLS is set but CALLVAULT_WEBHOOK_SECRET is empty; set both or neither"
    )
