"""The REST API, version 1 (``/api/v1``): authenticated with personal API tokens."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from mirrorcal.accounts import plan_limit

from .deps import ApiSetup


class ErrorOut(BaseModel):
    """Every API error: a sentence saying what went wrong."""

    detail: str


class MeOut(BaseModel):
    """The account that owns the token."""

    id: int
    email: str
    plan: str
    syncs_used: int
    syncs_allowed: int


router = APIRouter(prefix="/api/v1", tags=["account"], responses={401: {"model": ErrorOut}})


@router.get("/me", summary="The account the token belongs to")
def me(setup: ApiSetup) -> MeOut:
    user = setup.user
    return MeOut(
        id=user.id, email=user.email, plan=user.plan, syncs_used=setup.syncs_used(), syncs_allowed=plan_limit(user.plan)
    )
