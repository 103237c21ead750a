"""deploy/systemd and deploy/proxy: the units start real CLI commands with the promised
hardening, and the nginx site passes `nginx -t` and, run for real, redirects to HTTPS, strips
a client's X-Remote-User, streams large uploads only where meant to, and refuses weak TLS.

No systemd or nginx is installed by these tests: `systemd-analyze verify` and nginx are used
when the machine has them, and the tests needing them skip otherwise.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer

from myriagate.cli.main import app as cli_app

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "deploy" / "systemd"
PROXY = REPO / "deploy" / "proxy"
VENV_BIN = REPO / ".venv" / "bin"
Unit = dict[str, list[tuple[str, str]]]


def parse_unit(path: Path) -> Unit:
    """A unit file as {section: [(key, value), ...]}; keys may repeat, as systemd allows."""
    sections: Unit = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: {line!r} is outside any section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not key=value"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: Unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}: {found}"
    return found[0]


SERVICES = {"myriagate-api.service": "serve", "myriagate-worker@.service": "worker"}


@pytest.mark.parametrize(("name", "command"), SERVICES.items())
def test_long_running_units_are_hardened_and_restart(name: str, command: str) -> None:
    unit = parse_unit(SYSTEMD / name)
    assert one(unit, "Service", "User") == "myriagate"
    assert one(unit, "Service", "Group") == "myriagate"
    assert one(unit, "Service", "EnvironmentFile") == "/etc/myriagate/myriagate.env"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "RestartPreventExitStatus") == "78"  # ConfigError: do not loop
    for key, expected in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert one(unit, "Service", key) == expected, key
    # The spool (and a SQLite file) is the one writable place, shared by API and workers.
    assert values(unit, "Service", "ReadWritePaths") == ["/var/lib/myriagate"]
    assert one(unit, "Service", "StateDirectory") == "myriagate"
    assert one(unit, "Install", "WantedBy") == "myriagate.target"
    assert one(unit, "Unit", "PartOf") == "myriagate.target"
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    assert argv[:2] == ["/opt/myriagate/venv/bin/myriagate", command]


def _cli_argv(name: str) -> list[str]:
    argv = shlex.split(one(parse_unit(SYSTEMD / name), "Service", "ExecStart"))
    return [arg.replace("%i", "myria") for arg in argv[1:]]


@pytest.mark.parametrize("name", SERVICES)
def test_exec_start_is_a_real_cli_command_with_valid_options(name: str) -> None:
    argv = _cli_argv(name)
    helped = subprocess.run(
        [str(VENV_BIN / "myriagate"), argv[0], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0, helped.stderr
    for option in (a for a in argv[1:] if a.startswith("--")):
        assert option in helped.stdout, f"{option} is not an option of `myriagate {argv[0]}`"
    # The CLI's own parser reads the whole line (names, types, ranges) without running it;
    # a misspelt or out-of-range option raises here.
    group: Any = typer.main.get_command(cli_app)
    ctx = group.make_context("myriagate", list(argv))
    name, sub, rest = group.resolve_command(ctx, list(argv))
    assert name == argv[0]
    sub.make_context(name, rest, parent=ctx)


def test_worker_template_names_its_cluster_after_the_instance() -> None:
    assert _cli_argv("myriagate-worker@.service") == ["worker", "--cluster", "myria"]


def test_api_listens_on_loopback_only() -> None:
    argv = _cli_argv("myriagate-api.service")
    assert argv[argv.index("--host") + 1] == "127.0.0.1"  # the SSO header is trusted from nginx only


def test_backup_unit_runs_the_backup_script() -> None:
    unit = parse_unit(SYSTEMD / "myriagate-backup.service")
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    assert argv[0] == "/opt/myriagate/deploy/backup.sh"
    assert (REPO / "deploy" / "backup.sh").is_file()
    assert "--keep-days" in argv and "--out" in argv
    assert one(unit, "Service", "User") == "myriagate"
    assert set(values(unit, "Service", "ReadWritePaths")) == {"/var/lib/myriagate", "/var/backups/myriagate"}
    timer = parse_unit(SYSTEMD / "myriagate-backup.timer")
    assert one(timer, "Timer", "Persistent") == "true"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point the units at this checkout's venv and scripts.
    for unit in SYSTEMD.iterdir():
        text = unit.read_text().replace("/opt/myriagate/venv", str(REPO / ".venv"))
        (tmp_path / unit.name).write_text(text.replace("/opt/myriagate/deploy", str(REPO / "deploy")))
    names = [
        "myriagate-api.service",
        "myriagate-worker@myria.service",
        "myriagate.target",
        "myriagate-backup.service",
        "myriagate-backup.timer",
    ]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{n}" for n in names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warned about


# --- nginx ------------------------------------------------------------------------------------

needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="nginx is not installed (apt-get install nginx-light); the tests install nothing",
)


def _nginx() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "myriagate.criann.fr")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _nginx_tree(tmp_path: Path, *, http_port: int, https_port: int, upstream_port: int) -> Path:
    """The site as shipped, with only ports, certificate and snippet paths moved into tmp."""
    cert, key = _self_signed(tmp_path)
    snippet = tmp_path / "myriagate-proxy.conf"
    shutil.copy(PROXY / "myriagate-proxy.conf", snippet)
    site = (PROXY / "nginx-myriagate.conf").read_text()
    replacements = {
        "listen [::]:80;": "",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "/etc/ssl/myriagate/fullchain.pem": str(cert),
        "/etc/ssl/myriagate/privkey.pem": str(key),
        "/etc/nginx/snippets/myriagate-proxy.conf": str(snippet),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
    }
    for old, new in replacements.items():
        assert old in site, f"nginx-myriagate.conf no longer contains {old!r}"
        site = site.replace(old, new)
    (tmp_path / "site.conf").write_text(site)
    temp = "".join(
        f"{kind}_temp_path {tmp_path / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # workers must reach the 0700 tmp dir
        + f"worker_processes 1;\nerror_log {tmp_path / 'error.log'};\npid {tmp_path / 'nginx.pid'};\n"
        + "events { worker_connections 64; }\n"
        + f"http {{\naccess_log {tmp_path / 'access.log'};\n{temp}include {tmp_path / 'site.conf'};\n}}\n"
    )
    return main


@needs_nginx
def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    conf = _nginx_tree(tmp_path, http_port=_free_port(), https_port=_free_port(), upstream_port=_free_port())
    result = subprocess.run(
        [_nginx(), "-t", "-c", str(conf), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr


class _Echo(http.server.BaseHTTPRequestHandler):
    """The upstream: answers with the headers and body size it received."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = 0
        while received < length:
            chunk = self.rfile.read(min(65536, length - received))
            if not chunk:
                break
            received += len(chunk)
        body = json.dumps(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_bytes": received,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def live_nginx(tmp_path: Path) -> Iterator[tuple[int, int, ssl.SSLContext]]:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed (apt-get install nginx-light); the tests install nothing")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    http_port, https_port = _free_port(), _free_port()
    conf = _nginx_tree(
        tmp_path, http_port=http_port, https_port=https_port, upstream_port=upstream.server_address[1]
    )
    proc = subprocess.Popen(
        [_nginx(), "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.1)
        # Trust exactly the test's self-signed certificate (its name is not 127.0.0.1).
        trusting = ssl.create_default_context(cafile=str(tmp_path / "fullchain.pem"))
        trusting.check_hostname = False
        yield http_port, https_port, trusting
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        upstream.shutdown()


@needs_nginx
def test_live_nginx_redirects_strips_identity_and_streams_uploads(
    live_nginx: tuple[int, int, ssl.SSLContext],
) -> None:
    http_port, https_port, trusting = live_nginx
    redirect = httpx.get(f"http://127.0.0.1:{http_port}/jobs?x=1", headers={"Host": "evil.example"})
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "https://myriagate.criann.fr/jobs?x=1"

    with httpx.Client(base_url=f"https://127.0.0.1:{https_port}", verify=trusting, timeout=30) as client:
        for path in ("/api/v1/me", "/", "/jobs", "/api/v1/sessions", "/api/v1/uploads/u1", "/readyz"):
            seen = client.get(path, headers={"X-Remote-User": "admin"})
            assert seen.status_code == 200, (path, seen.text)
            assert "x-remote-user" not in seen.json()["headers"], path  # nginx alone asserts identity
            assert seen.headers["strict-transport-security"].startswith("max-age=63072000")
            assert seen.json()["headers"]["x-request-id"]

        big = b"\0" * (5 * 1024 * 1024)
        upload = client.put("/api/v1/uploads/u1", content=big)
        assert upload.status_code == 200 and upload.json()["body_bytes"] == len(big)
        assert client.post("/api/v1/jobs", content=big).status_code == 413  # 2 MB elsewhere


@needs_nginx
def test_live_nginx_refuses_tls_without_forward_secrecy(live_nginx: tuple[int, int, ssl.SSLContext]) -> None:
    _, https_port, strong = live_nginx
    weak = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    weak.check_hostname, weak.verify_mode = False, ssl.CERT_NONE
    weak.maximum_version = ssl.TLSVersion.TLSv1_2
    weak.set_ciphers("AES128-GCM-SHA256:AES256-SHA")  # RSA key exchange: no forward secrecy
    with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        weak.wrap_socket(raw, server_hostname="myriagate.criann.fr")
    with (
        socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw,
        strong.wrap_socket(raw, server_hostname="myriagate.criann.fr") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


# --- the CRIANN sample site -------------------------------------------------------------------

SITE = REPO / "deploy" / "site" / "criann"


def _sourced(env_file: Path) -> dict[str, str]:
    """The variables as systemd's EnvironmentFile (and ``set -a; . file``) gives them."""
    shown = subprocess.run(["env", "-i", "bash", "-c", 'set -a; . "$1"; env -0', "_", str(env_file)],
                           capture_output=True, timeout=30, check=True)  # fmt: skip
    pairs = (item.split("=", 1) for item in shown.stdout.decode().split("\0") if item)
    return {k: v for k, v in pairs if k.startswith("MYRIAGATE_")}


def test_site_env_lists_every_setting() -> None:
    from myriagate.settings import Settings

    text = (SITE / "myriagate.env").read_text()
    listed = {
        line.lstrip("#").split("=", 1)[0]
        for line in text.splitlines()
        if line.lstrip("#").startswith("MYRIAGATE_")
    }
    expected = {f"MYRIAGATE_{name.upper()}" for name in Settings.model_fields}
    assert expected - listed == set(), "settings missing from deploy/site/criann/myriagate.env"
    assert listed - expected == set(), "unknown settings in deploy/site/criann/myriagate.env"


def test_site_env_is_valid_once_its_secret_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from myriagate.settings import Settings

    env = _sourced(SITE / "myriagate.env")
    assert env["MYRIAGATE_TRUSTED_PROXIES"] == '["127.0.0.1", "::1"]'  # JSON survived the quoting
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match="MYRIAGATE_SECRET_KEY is a placeholder"):
        Settings()  # shipped with an empty secret: refused until the site sets one
    monkeypatch.setenv("MYRIAGATE_SECRET_KEY", "a-real-secret-of-the-site-0123456789")
    settings = Settings()
    assert settings.default_cluster == "myria" and not settings.dev_mode
    assert settings.trusted_proxies == ["127.0.0.1", "::1"]
    assert settings.secure_cookies
    assert str(settings.spool_dir).startswith("/var/lib/myriagate/")  # the units' ReadWritePaths


def test_site_profile_override_loads_and_replaces_the_bundled_one() -> None:
    from myriagate.profiles.loader import load_profile
    from myriagate.settings import Settings

    profile = load_profile("myria", Settings(dev_mode=True, profiles_dir=SITE / "profiles"))
    assert profile.connection.operator_login == "mg-operator"
    assert profile.connection.known_hosts == Path("/etc/myriagate/known_hosts.myria")
    bundled = load_profile("myria", Settings(dev_mode=True))
    assert bundled.connection.operator_login is None


def test_site_known_hosts_placeholder_pins_nothing() -> None:
    lines = (SITE / "known_hosts.myria").read_text().splitlines()
    assert lines and all(line.startswith("#") for line in lines)  # ssh ignores comments: no key trusted
