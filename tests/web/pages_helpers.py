"""Helpers for the page tests: log in through the login form, read a form's CSRF token."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from tests.web.conftest import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no csrf_token field on the page"
    return found.group(1)


def logged_in(app: FastAPI, user: User, *, lang: str = "en") -> TestClient:
    """A browser-like client that logged in with the form (cookies kept, redirects not followed)."""
    client = TestClient(app, follow_redirects=False, headers={"Accept-Language": lang})
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303, response.text
    return client


def page_csrf(client: TestClient, path: str = "/tokens") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)
