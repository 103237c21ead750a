"""Nginx's ``limit_req`` in deploy/proxy is the global backstop of the gateway's
per-process budgets. A real nginx runs the shipped site (``tests/unit/test_deploy_files.py``'s
harness: only ports, certificate and snippet paths moved) in front of an echo upstream.

A burst from one address past the configured burst gets 429 from nginx itself, as problem
details with ``Retry-After``, and the upstream never sees those requests; password attempts
(POSTs to the login routes) have a much smaller budget, while viewing the login page does
not spend it. Before the fix, nginx passed every request through.
"""

from __future__ import annotations

import ssl
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.unit.test_deploy_files import PROXY, live_nginx, needs_nginx  # noqa: F401 - fixture by name

API_BURST = 200  # nginx-myriagate.conf: zone=myriagate_requests burst=200 (50 r/s)
LOGIN_BURST = 20  # zone=myriagate_logins burst=20 (30 r/m)


def test_the_site_configures_limit_req_on_the_api_and_the_login_routes() -> None:
    site = (PROXY / "nginx-myriagate.conf").read_text()
    assert "limit_req_zone $binary_remote_addr zone=myriagate_requests:10m rate=50r/s;" in site
    assert f"limit_req zone=myriagate_requests burst={API_BURST} nodelay;" in site
    assert site.count(f"limit_req zone=myriagate_logins burst={LOGIN_BURST} nodelay;") == 3
    assert "limit_req_status 429;" in site


@needs_nginx
def test_a_burst_from_one_address_gets_429_problem_details_from_nginx(
    live_nginx: tuple[int, int, ssl.SSLContext],  # noqa: F811 - the imported fixture
) -> None:
    _, https_port, trusting = live_nginx
    limits = httpx.Limits(max_connections=12, max_keepalive_connections=12)  # nginx: 64 connections
    with httpx.Client(base_url=f"https://127.0.0.1:{https_port}", verify=trusting, timeout=30,
                      limits=limits) as client:  # fmt: skip
        with ThreadPoolExecutor(max_workers=12) as pool:
            responses = list(pool.map(lambda _: client.get("/api/v1/me"), range(3 * API_BURST)))

        statuses = [r.status_code for r in responses]
        passed, refused = statuses.count(200), [r for r in responses if r.status_code == 429]
        assert set(statuses) <= {200, 429}, set(statuses)
        assert API_BURST <= passed < 2 * API_BURST, passed  # the burst, plus what 50 r/s refilled
        assert len(refused) >= API_BURST // 2
        problem = refused[0]
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.headers["retry-after"] == "1"
        assert problem.json()["code"] == "rate_limited" and problem.json()["status"] == 429
        assert "x-request-id" not in problem.text  # answered by nginx, never reached the gateway


@needs_nginx
def test_password_attempts_have_a_small_budget_and_viewing_the_login_page_spends_none(
    live_nginx: tuple[int, int, ssl.SSLContext],  # noqa: F811 - the imported fixture
) -> None:
    _, https_port, trusting = live_nginx
    with httpx.Client(base_url=f"https://127.0.0.1:{https_port}", verify=trusting, timeout=30) as client:
        assert [client.get("/login").status_code for _ in range(LOGIN_BURST + 10)] == [200] * (
            LOGIN_BURST + 10
        )
        attempts = [client.post("/api/v1/sessions", json={}).status_code for _ in range(LOGIN_BURST + 5)]
        assert attempts[: LOGIN_BURST + 1] == [200] * (LOGIN_BURST + 1)  # the burst, plus the first
        assert 429 in attempts[LOGIN_BURST + 1 :]
        # The budget is the address's, whichever login route: the token route and the form too.
        assert client.post("/api/v1/tokens", json={}).status_code == 429
        assert client.post("/login", data={"username": "a", "password": "b"}).status_code == 429
        assert client.get("/api/v1/me").status_code == 200  # other requests still pass
