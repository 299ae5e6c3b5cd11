"""Sign-up, sign-in and sign-out pages.

Sign-in rotates the session (a new token; the old row is deleted), upgrades an outdated
argon2 hash, and answers a wrong password and an unknown e-mail with the same words. A refused
form comes back with what the user typed (never the password) and a message per field (400).
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from mirrorcal.accounts import PLANS, check_password_rules, normalise_email
from mirrorcal.errors import EmailTakenError
from mirrorcal.store.base import Store, WebSessionRow

from .deps import Csrf, PasswordsDep, SessionDep, SettingsDep, StoreDep, ThrottleDep, utcnow
from .pages import render, safe_next, see_other
from .security import SESSION_COOKIE, clear_cookie, set_cookie, start_session
from .settings import WebSettings

router = APIRouter(include_in_schema=False)

WRONG_CREDENTIALS = "That e-mail and password do not match an account. Check both and try again."
FormText = Annotated[str, Form()]


def _signed_in(
    request: Request, store: Store, settings: WebSettings, old: WebSessionRow | None, user_id: int, to: str, flash: str
) -> Response:
    """Redirect to ``to`` with a brand-new session for ``user_id``, ending ``old`` (no fixation)."""
    if old is not None:
        store.delete_web_session(old.token_hash)
    token, _ = start_session(store, settings, user_id, utcnow())
    response = see_other(request, to, flash)
    set_cookie(response, settings, SESSION_COOKIE, token, max_age=settings.session_days * 86400)
    return response


# sign-up ----------------------------------------------------------------------------------------
@router.get("/signup")
def signup_page(request: Request, csrf: Csrf, session: SessionDep) -> Response:
    if session is not None:
        return see_other(request, "/")
    return render(request, "signup.html", {"values": {"email": "", "plan": "personal"}})


@router.post("/signup")
def signup(
    request: Request,
    csrf: Csrf,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    email: FormText = "",
    password: FormText = "",
    confirm: FormText = "",
    plan: FormText = "",
) -> Response:
    errors: dict[str, str] = {}
    address = ""
    if not email.strip():
        errors["email"] = "Enter your e-mail address, like name@example.com."
    else:
        try:
            address = normalise_email(email)
        except ValueError as exc:
            errors["email"] = f"{str(exc)[:1].upper()}{str(exc)[1:]}. Use one like name@example.com."
    problem = check_password_rules(password)
    if problem is not None:
        errors["password"] = f"Password: {problem}."
    elif confirm != password:
        errors["confirm"] = "The two passwords are not the same. Type the password again."
    if plan not in PLANS:
        errors["plan"] = "Choose a plan."
    if not errors:
        try:
            user = store.create_user(address, passwords.hash(password), plan, utcnow())
        except EmailTakenError:
            errors["email"] = "An account with this e-mail already exists. Sign in instead."
        else:
            return _signed_in(request, store, settings, session, user.id, "/", "welcome")
    values = {"email": email, "plan": plan if plan in PLANS else ""}
    return render(request, "signup.html", {"values": values, "errors": errors}, status_code=400)


# sign-in ----------------------------------------------------------------------------------------
@router.get("/signin")
def signin_page(request: Request, csrf: Csrf, session: SessionDep, next: str = "/") -> Response:
    if session is not None:
        return see_other(request, safe_next(next))
    return render(request, "signin.html", {"values": {"email": "", "next": safe_next(next)}})


@router.post("/signin")
def signin(
    request: Request,
    csrf: Csrf,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    throttle: ThrottleDep,
    email: FormText = "",
    password: FormText = "",
    next: FormText = "/",
) -> Response:
    values = {"email": email, "next": safe_next(next)}

    def refuse(errors: dict[str, str], status_code: int = 400) -> Response:
        return render(request, "signin.html", {"values": values, "errors": errors}, status_code=status_code)

    if not email.strip() or not password:
        missing = {"email": "Enter your e-mail address."} if not email.strip() else {}
        if not password:
            missing["password"] = "Enter your password."
        return refuse(missing)
    try:
        address = normalise_email(email)
    except ValueError:
        address = email.strip().lower()
    wait = throttle.wait(address)
    if wait > 0:
        minutes = math.ceil(wait / 60)
        later = f"{minutes} minute{'s' if minutes != 1 else ''}"
        return refuse({"form": f"Too many failed attempts for this e-mail. Try again in {later}."}, 429)
    user = store.user_by_email(address)
    if user is None:
        passwords.burn(password)
    if user is None or not passwords.verify(user.password_hash, password):
        throttle.failed(address)
        return refuse({"form": WRONG_CREDENTIALS})
    throttle.succeeded(address)
    if passwords.needs_rehash(user.password_hash):
        store.set_password_hash(user.id, passwords.hash(password))
    return _signed_in(request, store, settings, session, user.id, safe_next(next), "signed-in")


# sign-out ---------------------------------------------------------------------------------------
@router.post("/signout")
def signout(request: Request, csrf: Csrf, session: SessionDep, store: StoreDep, settings: SettingsDep) -> Response:
    if session is not None:
        store.delete_web_session(session.token_hash)
    response = see_other(request, "/signin", "signed-out")
    clear_cookie(response, settings, SESSION_COOKIE)
    return response
