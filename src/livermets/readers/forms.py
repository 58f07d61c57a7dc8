"""Strict pydantic models of everything the app accepts (forms, JSON bodies, path ids)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import HTTPException
from fastapi import Path as PathParam
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL

Model = TypeVar("Model", bound=BaseModel)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[str, Field(min_length=min_length, max_length=max_length),
                     AfterValidator(_no_nul)]


DbId = Annotated[int, Field(ge=0, le=MAX_ID)]
PathId = Annotated[int, PathParam(ge=0, le=MAX_ID)]
SliceIndex = Annotated[int, PathParam(ge=0, le=100_000)]
SessionIndex = Annotated[int, PathParam(ge=0, le=100)]
Comment = _text(2000)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class _Form(BaseModel):
    """Form fields arrive as text: numbers are parsed (lax), text is still checked."""

    model_config = ConfigDict(strict=False, extra="ignore")


class LoginForm(_Form):
    """The login form."""

    username: _text(100, 1)
    password: _text(1024, 1)


class StudyForm(_Form):
    """The admin's study form (defaults from the study file are filled in by the caller)."""

    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul),
                    AfterValidator(str.strip)]
    question: _text(500, 1)
    scale: Literal["probability", "five-point"]
    washout_days: Annotated[float, Field(ge=0, le=3650, allow_inf_nan=False)]
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)]  # an INTEGER column on PostgreSQL
    model: _text(200, 1)
    readers: _text(200_000, 1)


class RatingJson(_Strict):
    """``POST /api/ratings``: JSON types are strict (``true`` is not a number)."""

    assignment_id: DbId
    rating: Annotated[float, Field(allow_inf_nan=False)]
    comment: Comment = ""


class RatingForm(_Form):
    """The rating form of the reading page."""

    assignment_id: DbId
    rating: Annotated[float, Field(allow_inf_nan=False)]
    comment: Comment = ""


class PasswordForm(_Form):
    """The change-password form."""

    current_password: _text(1024, 1)
    new_password: _text(1024, 1)
    confirm_password: _text(1024, 1)


def parse(model: type[Model], data: dict[str, Any]) -> Model:
    """``data`` validated by ``model``, or HTTP 422 naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                             for e in exc.errors())
        raise HTTPException(422, problems) from None
