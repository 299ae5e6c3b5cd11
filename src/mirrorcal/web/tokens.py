"""Personal API tokens: create (shown once), list, delete. Only their hashes are stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from starlette.responses import Response

from mirrorcal.accounts import new_token, token_hash

from .deps import Csrf, CurrentUser, StoreDep, row_id, utcnow
from .pages import render, see_other

router = APIRouter(prefix="/account/tokens", include_in_schema=False)

MAX_NAME_LENGTH = 80
MAX_TOKENS = 50


@router.get("")
def tokens_page(request: Request, csrf: Csrf, user: CurrentUser, store: StoreDep) -> Response:
    return render(request, "tokens.html", {"active": "tokens", "tokens": store.api_tokens(user.id)})


@router.post("")
def create_token(
    request: Request, csrf: Csrf, user: CurrentUser, store: StoreDep, name: Annotated[str, Form()] = ""
) -> Response:
    tokens = store.api_tokens(user.id)
    label = " ".join(name.split())
    error = None
    if not label:
        error = "Give the token a name, such as the program that will use it."
    elif len(label) > MAX_NAME_LENGTH:
        error = f"Use at most {MAX_NAME_LENGTH} characters for the name."
    elif len(tokens) >= MAX_TOKENS:
        error = f"You already have {MAX_TOKENS} tokens. Delete one you no longer use first."
    if error is not None:
        refused = {"active": "tokens", "tokens": tokens, "values": {"name": name}, "errors": {"name": error}}
        return render(request, "tokens.html", refused, status_code=400)
    raw = new_token()
    created = store.create_api_token(user.id, label, token_hash(raw), utcnow())
    context: dict[str, object] = {
        "active": "tokens",
        "tokens": store.api_tokens(user.id),
        "new_token": raw,
        "new_row": created,
    }
    return render(request, "tokens.html", context, status_code=201)


@router.post("/{token_id}/delete")
def delete_token(request: Request, csrf: Csrf, user: CurrentUser, store: StoreDep, token_id: int) -> Response:
    if not row_id(token_id) or not store.delete_api_token(user.id, token_id):
        raise HTTPException(404, "There is no such token. It may have been deleted already.")
    return see_other(request, "/account/tokens", "token-deleted")
