"""Per-user request budgets, and per-address login attempts.

A user who spends their budget gets 429 ``rate_limited`` problem details with ``Retry-After``
(the HTML error page on pages), the request is not run, and other users are unaffected; a
submission costs more than a read; the budget refills with time. Password attempts spend from
the client address's budget (behind the trusted proxy, the address nginx saw), before the
password is checked. Before the fix, none of these requests was ever refused.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.settings import Settings
from myriagate.web.rate_limits import RateLimits
from tests.conftest import CLUSTER
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import PASSWORD, MakeUser, assert_problem

BURST = 10
SCRIPT = "#!/bin/bash\n#SBATCH --partition=debug\n#SBATCH --time=5\necho hi\n"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_enabled": True, "rate_limit_burst": BURST, "rate_limit_per_min": 60,
            "rate_limit_submit_cost": 4, "login_rate_limit_burst": 5, "login_rate_limit_per_min": 6,
            "trusted_proxies": ["10.0.0.2"]}  # fmt: skip


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticker(app: FastAPI, web_settings: Settings) -> Ticker:
    ticker = Ticker()
    app.state.rate_limits = RateLimits(web_settings, monotonic=ticker)
    return ticker


def test_a_burst_of_calls_gets_429_with_retry_after_and_other_users_are_unaffected(
    make_user: MakeUser, auth_client: Callable[[User], TestClient], ticker: Ticker
) -> None:
    alice, bob = make_user(), make_user()
    as_alice, as_bob = auth_client(alice), auth_client(bob)
    statuses = [as_alice.get("/api/v1/me").status_code for _ in range(BURST)]
    assert statuses == [200] * BURST

    refused = as_alice.get("/api/v1/jobs")
    body = assert_problem(refused, 429, "rate_limited")
    assert body["title"] == "Too many requests"
    assert refused.headers["retry-after"] == "1"  # one request a second comes back
    assert "retry in 1 s" in body["detail"]
    assert as_alice.get("/api/v1/me").status_code == 429  # still nothing left: not run

    assert [as_bob.get("/api/v1/me").status_code for _ in range(BURST)] == [200] * BURST

    ticker.now += 1.0  # the budget refills: one more request
    assert as_alice.get("/api/v1/me").status_code == 200
    assert as_alice.get("/api/v1/me").status_code == 429


def test_every_token_and_session_of_a_user_share_one_budget(
    make_user: MakeUser, auth_client: Callable[[User], TestClient], ticker: Ticker
) -> None:
    alice = make_user()
    first, second = auth_client(alice), auth_client(alice)  # two tokens
    for i in range(BURST):
        assert (first if i % 2 else second).get("/api/v1/me").status_code == 200
    assert_problem(second.get("/api/v1/me"), 429, "rate_limited")
    assert_problem(first.get("/api/v1/me"), 429, "rate_limited")


def test_a_submission_costs_more_than_a_read_and_is_not_run_when_refused(
    make_user: MakeUser, auth_client: Callable[[User], TestClient], ticker: Ticker, fake_cluster: FakeCluster
) -> None:
    client = auth_client(make_user())
    body = {"script": SCRIPT, "cluster": CLUSTER}
    assert client.post("/api/v1/jobs", json=body).status_code == 202  # 10 - 4 = 6 left
    assert client.post("/api/v1/jobs", json=body).status_code == 202  # 2 left
    refused = client.post("/api/v1/jobs", json=body)
    problem = assert_problem(refused, 429, "rate_limited")
    assert "submissions" in problem["detail"] and refused.headers["retry-after"] == "2"
    assert fake_cluster.calls["sbatch"] == 2  # the refused one never reached Slurm
    assert client.get("/api/v1/me").status_code == 200  # a read still fits in what is left


def test_a_page_gets_the_html_error_page_with_retry_after(
    make_user: MakeUser, auth_client: Callable[[User], TestClient], ticker: Ticker
) -> None:
    client = auth_client(make_user())
    for _ in range(BURST):
        assert client.get("/jobs", headers={"Accept": "text/html"}).status_code == 200
    page = client.get("/jobs", headers={"Accept": "text/html"})
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == "1"
    assert "Too many requests" in page.text and "rate_limited" in page.text


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_password_attempts_are_limited_per_address_before_the_password_is_checked(
    app: FastAPI, make_user: MakeUser, ticker: Ticker
) -> None:
    alice = make_user()
    guesser = TestClient(app, client=("192.0.2.7", 40000))
    for guess in range(5):
        wrong = guesser.post(
            "/api/v1/sessions", json={"username": alice.username, "password": f"guess{guess}"}
        )
        assert wrong.status_code == 401
    # The budget is spent: even the right password is not tried, on every login route.
    right = guesser.post("/api/v1/sessions", json={"username": alice.username, "password": PASSWORD})
    assert_problem(right, 429, "rate_limited")
    assert right.headers["retry-after"] == "10"  # 6 a minute: one every 10 s
    token = guesser.post("/api/v1/tokens", json={"name": "x"}, headers=basic(alice.username, PASSWORD))
    assert_problem(token, 429, "rate_limited")
    form = guesser.post("/login", data={"username": alice.username, "password": PASSWORD},
                        headers={"Accept": "text/html"}, follow_redirects=False)  # fmt: skip
    assert form.status_code == 429 and form.headers["content-type"].startswith("text/html")

    # Another address is unaffected.
    other = TestClient(app, client=("192.0.2.8", 40000))
    ok = other.post("/api/v1/sessions", json={"username": alice.username, "password": PASSWORD})
    assert ok.status_code == 201, ok.text

    ticker.now += 10  # one attempt more, ten seconds later
    again = guesser.post("/api/v1/sessions", json={"username": alice.username, "password": PASSWORD})
    assert again.status_code == 201, again.text


def test_behind_the_trusted_proxy_the_address_is_the_one_nginx_saw(
    app: FastAPI, make_user: MakeUser, ticker: Ticker
) -> None:
    alice = make_user()
    proxy = TestClient(app, client=("10.0.0.2", 40000))  # settings: trusted_proxies = [10.0.0.2]

    def attempt(address: str, claimed: str = "") -> int:
        # nginx appends the address it saw to whatever X-Forwarded-For the client sent.
        forwarded = f"{claimed}, {address}" if claimed else address
        response = proxy.post("/api/v1/sessions", json={"username": alice.username, "password": "wrong"},
                              headers={"X-Forwarded-For": forwarded})  # fmt: skip
        return int(response.status_code)

    # A guesser rotating the address it claims is still one address.
    assert [attempt("198.51.100.1", claimed=f"203.0.113.{i}") for i in range(6)] == [401] * 5 + [429]
    assert attempt("198.51.100.2") == 401  # someone else behind the same proxy
    # From an untrusted peer, X-Forwarded-For is the client's own claim: ignored.
    direct = TestClient(app, client=("192.0.2.9", 40000))
    wrong = {"username": alice.username, "password": "wrong"}
    claims = [{"X-Forwarded-For": f"203.0.113.{i}"} for i in range(6)]
    codes = [direct.post("/api/v1/sessions", json=wrong, headers=claim).status_code for claim in claims]
    assert codes == [401] * 5 + [429]


def test_the_limits_are_documented_settings() -> None:
    with pytest.raises(ValueError, match="RATE_LIMIT_SUBMIT_COST"):
        Settings(dev_mode=True, rate_limit_burst=3, rate_limit_submit_cost=5)
    defaults = Settings(dev_mode=True)
    assert defaults.rate_limit_enabled and defaults.rate_limit_submit_cost <= defaults.rate_limit_burst
