"""Sign up, sign out, sign in and make an API token, in real headless Chromium."""

from __future__ import annotations

import re

import httpx
from live import PASSWORD, LiveServer, sign_up
from playwright.sync_api import Page, expect


def test_sign_up_sign_out_and_back_in(page: Page, live: LiveServer) -> None:
    sign_up(page, live, "ada@agency.example")
    expect(page.get_by_title("Signed in as ada@agency.example")).to_be_visible()
    expect(page.get_by_text(re.compile(r"plan allows 3|0 of 3", re.I))).to_be_visible()

    page.get_by_role("button", name=re.compile("Sign out", re.I)).click()
    page.goto(f"{live.url}/")
    expect(page).to_have_url(re.compile(r"/signin"))

    page.get_by_label("E-mail").fill("ada@agency.example")
    page.get_by_label("Password").fill("wrong password, clearly")
    page.get_by_role("button", name=re.compile("Sign in", re.I)).click()
    expect(page.get_by_role("alert").first).to_be_visible()
    assert "wrong password" not in page.content()

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in", re.I)).click()
    expect(page.get_by_title("Signed in as ada@agency.example")).to_be_visible()


def test_a_refused_sign_up_explains_each_field(page: Page, live: LiveServer) -> None:
    page.goto(f"{live.url}/signup")
    page.get_by_label("E-mail").fill("not-an-address")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label(re.compile("Confirm|Repeat|again", re.I)).fill("different")
    page.get_by_role("button", name=re.compile("Sign up|Create", re.I)).click()
    text = page.inner_text("main")
    assert "e-mail address" in text and "10 characters" in text
    assert page.get_by_label("E-mail").input_value() == "not-an-address"  # the value is kept
    assert page.get_by_label("Password", exact=True).input_value() == ""  # the password never is


def test_an_api_token_is_shown_once_and_works(page: Page, live: LiveServer) -> None:
    sign_up(page, live, "grace@agency.example")
    page.goto(f"{live.url}/account/tokens")
    page.get_by_label(re.compile("Name", re.I)).fill("my script")
    page.get_by_role("button", name=re.compile("Create", re.I)).click()
    token = page.get_by_role("textbox", name="New token").input_value().strip()
    me = httpx.get(f"{live.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == "grace@agency.example"
    page.reload()
    assert token not in page.content()  # shown once, never again
