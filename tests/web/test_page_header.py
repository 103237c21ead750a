"""Issue #15: the French header wrapped onto two lines at 1280 px. The language switch now
offers only the other language (named in itself), and below 48rem the links fold into a Menu
that opens without JavaScript; the same links are in both navs, only one displayed (app.css).
Screenshots at 1280 and 390 px in both languages were checked by hand."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from myriagate.db.models import User
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in

NAV = re.compile(r'<nav( class="wide")? aria-label="([^"]+)">(.*?)</nav>', re.S)
LINK = re.compile(r'<a href="([^"]+)">([^<]+)</a>')


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user(username="alice@unicaen.fr", login="alice")


@pytest.mark.parametrize(
    ("lang", "other", "name", "menu"), [("en", "fr", "Français", "Menu"), ("fr", "en", "English", "Menu")]
)
def test_the_header_offers_the_other_language_and_a_menu_with_the_same_links(
    app: FastAPI, alice: User, lang: str, other: str, name: str, menu: str
) -> None:
    page = logged_in(app, alice, lang=lang).get("/jobs").text
    header = page[page.index('<header class="top">') : page.index("</header>")]
    langs = header[header.index('class="langs"') : header.index("</ul>", header.index('class="langs"'))]
    assert re.findall(r'lang="(\w+)"', langs) == [other, other]  # the link and its hreflang
    assert f">{name}</a>" in langs and "aria-current" not in langs
    assert f"/language/{other}?next=%2Fjobs" in langs
    navs = NAV.findall(header)
    assert [wide for wide, _, _ in navs] == [' class="wide"', ""]
    wide_links, menu_links = (LINK.findall(body) for _, _, body in navs)
    assert (
        wide_links == menu_links
        and ("/submit", "Submit a job" if lang == "en" else "Soumettre un job") in wide_links
    )
    assert f"<summary>{menu}</summary>" in header
