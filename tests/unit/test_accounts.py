"""The account domain: plans, argon2 password hashes and rules, e-mail addresses, tokens."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from mirrorcal.accounts import (
    PLANS,
    check_password_rules,
    hash_password,
    needs_rehash,
    new_token,
    normalise_email,
    plan_limit,
    token_hash,
    verify_password,
)


def test_plans_and_their_limits() -> None:
    assert PLANS == {"personal": 3, "professional": 8}
    assert plan_limit("personal") == 3 and plan_limit("professional") == 8
    with pytest.raises(ValueError, match="'enterprise' is not a plan"):
        plan_limit("enterprise")


# passwords --------------------------------------------------------------------------------------
def test_hash_and_verify() -> None:
    password = "correct horse battery ✓"
    first, second = hash_password(password), hash_password(password)
    assert first.startswith("$argon2id$") and first != second  # salted
    assert password not in first
    assert verify_password(first, password) and verify_password(second, password)
    assert not verify_password(first, "correct horse battery")
    assert not verify_password(first, "")
    assert not needs_rehash(first)


@pytest.mark.parametrize("stored", ["", "plain text", "$argon2id$v=19$m=1,t=1,p=1$xx$yy", "$2b$12$bcrypt-ish"])
def test_unreadable_hashes_verify_nothing_and_need_a_rehash(stored: str) -> None:
    assert verify_password(stored, "anything at all") is False
    assert needs_rehash(stored) is True


def test_hashes_with_older_parameters_verify_and_need_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("an old password")
    assert verify_password(weak, "an old password")
    assert needs_rehash(weak)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", "at least 10 characters"),
        ("short", "at least 10 characters"),
        ("123456789", "at least 10 characters"),
        ("x" * 1025, "at most 1024 characters"),
        (" " * 12, "not only spaces"),
        ("aaaaaaaaaaaa", "not a commonly used password"),
        ("Password123", "not a commonly used password"),
        ("1234567890", "not a commonly used password"),
    ],
)
def test_password_rules_say_what_is_wrong(password: str, problem: str) -> None:
    assert check_password_rules(password) == problem


@pytest.mark.parametrize("password", ["tangerine-otter-42", ("ab3" * 342)[:1024], "ünïcødé ✓ pass", "  spaced out  "])
def test_acceptable_passwords(password: str) -> None:
    assert check_password_rules(password) is None


# e-mail addresses -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("ada@example.test", "ada@example.test"),
        ("  Ada.Lovelace+cal@Example.CO.uk \n", "ada.lovelace+cal@example.co.uk"),
        ("o'brien@mail-server.example.org", "o'brien@mail-server.example.org"),
        ("josé@exämple.test", "josé@exämple.test"),
        ("jose\u0301@example.test", "jos\u00e9@example.test"),  # NFC: one way to write é
        ("x@a.io", "x@a.io"),
    ],
)
def test_normalise_email(text: str, address: str) -> None:
    assert normalise_email(text) == address
    assert normalise_email(address) == address


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ada",
        "ada@",
        "@example.test",
        "ada@example",
        "ada@@example.test",
        "ada@bob@example.test",
        "ada lovelace@example.test",
        "ada@exa mple.test",
        ".ada@example.test",
        "ada.@example.test",
        "a..da@example.test",
        "ada@example..test",
        "ada@-example.test",
        "ada@example-.test",
        "ada@exa_mple.test",
        "ada@127.0.0.1",
        '"ada"@example.test',
        "<ada@example.test>",
        "ada@example.test\x00",
        "Ada <ada@example.test>",
        "a" * 65 + "@example.test",
        "ada@" + "a" * 64 + ".test",
        "ada@" + ".".join(["abcdefghi"] * 26) + ".test",
    ],
)
def test_not_email_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="is not an e-mail address$"):
        normalise_email(text)


def test_the_refusal_quotes_what_was_given_briefly() -> None:
    with pytest.raises(ValueError) as raised:
        normalise_email("  nobody at all ")
    assert str(raised.value) == "'nobody at all' is not an e-mail address"
    with pytest.raises(ValueError) as raised:
        normalise_email("y" * 500)
    assert len(str(raised.value)) < 120


_ATOM = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+_-", min_size=1, max_size=20)
_LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True)


@given(
    local=st.lists(_ATOM, min_size=1, max_size=3),
    labels=st.lists(_LABEL, min_size=1, max_size=3),
    tld=st.from_regex(r"[a-zA-Z]{2,6}", fullmatch=True),
)
def test_normalising_is_idempotent_and_only_changes_case(local: list[str], labels: list[str], tld: str) -> None:
    text = ".".join(local) + "@" + ".".join([*labels, tld])
    address = normalise_email(text)
    assert address == text.lower()
    assert normalise_email(address) == address


# tokens -----------------------------------------------------------------------------------------
def test_tokens_are_random_url_safe_and_stored_as_sha256() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 random bytes
        digest = token_hash(token)
        assert re.fullmatch(r"[0-9a-f]{64}", digest) and digest == token_hash(token)
        assert token not in digest
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
