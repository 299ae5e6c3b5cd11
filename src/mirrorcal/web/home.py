"""The signed-in home page: who is signed in, the plan and how many of its syncs are used."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from mirrorcal.accounts import plan_limit

from .deps import Csrf, PageSetup
from .pages import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    context = {"active": "home", "syncs_used": setup.syncs_used(), "syncs_allowed": plan_limit(setup.user.plan)}
    return render(request, "home.html", context)
