"""`[server]` and `[server.decision_log]` in rune.toml: every key read, every bad value
refused where it is written, secrets never shown; and how the server combines them with
the environment and the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rune.bundle import BundleError, DecisionLogSync, Settings
from rune.server import ServerConfig, ServerError
from rune.server.runner import load_config
from tests.bundle.conftest import found

TOKEN = "t0ken-0123456789abcdef"
FULL = f"""\
[server]
host = "0.0.0.0"
port = 9000
api_token = "{TOKEN}"
admin_token = "{TOKEN}-admin"
tls_cert = "tls/cert.pem"
tls_key = "/etc/key.pem"
max_body_bytes = 4096
watch = false
public_url = "https://pdp.example.com/"
access_request_ttl_seconds = 120
[server.decision_log]
path = "log/decisions.jsonl"
sync = "always"
flush_seconds = 0.5
max_bytes = 1000000
keep = 3
mask = ["$.context.password", "$.subject.properties.*", "$.x[0]"]
max_backlog = 50
"""


def errors(text: str) -> list[tuple[str, str, str]]:
    with pytest.raises(BundleError) as info:
        Settings.from_toml(text, file="rune.toml", base="/bundle")
    return found(info.value, Path("/nowhere"))


def test_defaults() -> None:
    s = Settings()
    assert (s.server_host, s.server_port, s.server_api_token, s.server_admin_token,
            s.server_tls_cert, s.server_max_body_bytes, s.server_watch,
            s.server_public_url, s.server_access_request_ttl_seconds) == (
        "127.0.0.1", 8180, None, None, None, 1 << 20, True, None, 600.0)
    assert (s.decision_log_path, s.decision_log_sync, s.decision_log_flush_seconds,
            s.decision_log_max_bytes, s.decision_log_keep, s.decision_log_mask,
            s.decision_log_max_backlog) == (None, DecisionLogSync.BATCHED, 0.2, 64 << 20,
                                            10, (), 100_000)


def test_every_key_is_read() -> None:
    s = Settings.from_toml(FULL, file="/bundle/rune.toml")
    assert s.server_host == "0.0.0.0" and s.server_port == 9000
    assert s.server_api_token == TOKEN and s.server_admin_token == f"{TOKEN}-admin"
    assert s.server_tls_cert == Path("/bundle/tls/cert.pem")
    assert s.server_tls_key == Path("/etc/key.pem")
    assert s.server_max_body_bytes == 4096 and s.server_watch is False
    assert s.server_public_url == "https://pdp.example.com"
    assert s.server_access_request_ttl_seconds == 120.0
    assert s.decision_log_path == Path("/bundle/log/decisions.jsonl")
    assert s.decision_log_sync is DecisionLogSync.ALWAYS
    assert (s.decision_log_flush_seconds, s.decision_log_max_bytes, s.decision_log_keep,
            s.decision_log_max_backlog) == (0.5, 1_000_000, 3, 50)
    assert s.decision_log_mask == ("$.context.password", "$.subject.properties.*", "$.x[0]")
    # Tokens never appear in a repr.
    assert TOKEN not in repr(s)


@pytest.mark.parametrize(("table", "key", "value", "message"), [
    ("server", "port", "0", "must be a port number from 1 to 65535, not `0`"),
    ("server", "port", "70000", "must be a port number from 1 to 65535, not `70000`"),
    ("server", "host", '"a b"', 'must be a host name or an IP address, not `"a b"`'),
    ("server", "api_token", '"short"',
     "must be 16 to 4096 visible ASCII characters (no spaces)"),
    ("server", "admin_token", "5", "must be a string, not `5`"),
    ("server", "watch", '"yes"', 'must be `true` or `false`, not `"yes"`'),
    ("server", "max_body_bytes", "-1", "must be an integer from 1 to 9223372036854775807, "
     "not `-1`"),
    ("server", "public_url", '"ftp://x"', "must be an `http://` or `https://` URL without "
     'query or fragment, not `"ftp://x"`'),
    ("server.decision_log", "sync", '"sometimes"',
     'must be `batched` or `always`, not `"sometimes"`'),
    ("server.decision_log", "flush_seconds", "0",
     "must be a finite number of seconds greater than 0, not `0`"),
    ("server.decision_log", "mask", '"$.a"', 'must be an array of JSON paths such as '
     '`"$.context.password"`, not `"$.a"`'),
    ("server.decision_log", "mask", '["context.password"]', 'must be an array of JSON paths '
     'such as `"$.context.password"` (`$`, then `.name`, `[index]` or `.*` steps), not '
     '`"context.password"`'),
])
def test_a_bad_value_is_refused_at_its_key(table: str, key: str, value: str,
                                           message: str) -> None:
    text = f"# settings\n[{table}]\n  {key} = {value}\n"
    assert errors(text) == [("invalid-setting", "rune.toml:3:3", f"`[{table}] {key}` {message}")]


def test_a_secret_is_never_shown_in_an_error() -> None:
    (problem,) = errors('[server]\napi_token = "has a space but is long"\n')
    assert "has a space" not in problem[2]


def test_unknown_keys_and_half_tls_are_refused() -> None:
    assert errors('[server.decision_log]\nsynk = "always"\n') == [
        ("unknown-setting", "rune.toml:2:1",
         "unknown setting `synk` in `[server.decision_log]`; did you mean `sync`?")]
    assert errors('[server]\ntls_cert = "c.pem"\n') == [
        ("invalid-setting", "rune.toml:2:1",
         "`[server] tls_cert` needs `tls_key` too: TLS takes a certificate and its key")]
    assert errors("[server]\ndecision_log = 5\n") == [
        ("invalid-setting", "rune.toml:2:1",
         "`server.decision_log` must be a table (`[server.decision_log]`), not `5`")]


def test_environment_and_command_line_override_the_settings(tmp_path: Path) -> None:
    (tmp_path / "rune.toml").write_text('[server]\nport = 9000\napi_token = "'
                                        f'{TOKEN}"\n')
    config = load_config(tmp_path, {"RUNE_ADMIN_TOKEN": f"{TOKEN}-env"}, port=9100)
    assert isinstance(config, ServerConfig)
    assert (config.port, config.api_token, config.admin_token) == (9100, TOKEN,
                                                                  f"{TOKEN}-env")
    assert TOKEN not in repr(config)
    with pytest.raises(ServerError) as bad:
        load_config(tmp_path, {"RUNE_API_TOKEN": "weak"})
    assert "weak" not in str(bad.value)


@pytest.mark.parametrize(("override", "code"), [
    ({"port": 70000}, "invalid-port"), ({"max_body_bytes": 0}, "invalid-body-limit"),
    ({"host": "a b"}, "invalid-host"), ({"tls_cert": Path("c.pem")}, "invalid-tls")])
def test_bad_command_line_values_are_refused(tmp_path: Path, override: dict[str, object],
                                             code: str) -> None:
    with pytest.raises(ServerError) as bad:
        load_config(tmp_path, {}, **override)
    assert bad.value.code == code


def test_the_event_loop_is_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import uvloop

    from rune.server.runner import event_loop_factory

    assert event_loop_factory("auto") is uvloop.new_event_loop
    assert event_loop_factory("uvloop") is uvloop.new_event_loop
    assert event_loop_factory("asyncio") is asyncio.new_event_loop
    monkeypatch.setitem(sys.modules, "uvloop", None)  # (as if it were not installed)
    assert event_loop_factory("auto") is asyncio.new_event_loop
    with pytest.raises(ServerError) as refused:
        event_loop_factory("uvloop")
    assert refused.value.code == "missing-event-loop"
