"""The signed-in home page: who is signed in, the plan and how many of its syncs are used."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from mirrorcal.accounts import plan_limit

from .deps import Csrf, CurrentUser
from .pages import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, csrf: Csrf, user: CurrentUser) -> Response:
    # Syncs are stored per account in a later step; until then an account has none.
    return render(
        request, "home.html", {"active": "home", "syncs_used": 0, "syncs_allowed": plan_limit(user.plan)}
    )
