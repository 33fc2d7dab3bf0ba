"""Request and response models of the service; they make ``/openapi.json`` and ``/docs`` meaningful."""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator


class PredictRequest(BaseModel):
    """Exactly one of ``texts`` (raw strings) or ``tokens`` (lists of pre-split words)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["show me films with drew barrymore from the 1980s"]},
                     {"tokens": [["drew", "barrymore", "movies"]]}],
    })

    texts: Optional[list[StrictStr]] = Field(None, description="raw texts, split into words by the server")
    tokens: Optional[list[list[StrictStr]]] = Field(None, description="pre-split words; offsets index the words joined by single spaces")

    @model_validator(mode="after")
    def _exactly_one(self) -> "PredictRequest":
        given = [name for name in ("texts", "tokens") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'texts' or 'tokens', got {' and '.join(given) or 'neither'}")
        if not (self.texts if self.texts is not None else self.tokens):
            raise ValueError(f"'{given[0]}' is empty; give at least one input")
        return self

    @property
    def inputs(self) -> list[str] | list[list[str]]:
        return self.texts if self.texts is not None else self.tokens  # type: ignore[return-value]


class EntityOut(BaseModel):
    text: str
    label: str
    start: int = Field(description="character offset where the entity starts")
    end: int = Field(description="character offset one past the entity's end")
    score: float = Field(description="mean probability of the entity's word tags")
    word_start: int = 0
    word_end: int = 0


class PredictionOut(BaseModel):
    text: str
    words: list[str]
    tags: list[str]
    entities: list[EntityOut]


class ClassificationOut(BaseModel):
    text: str
    label: Optional[str] = Field(description="the best label (for a multi-label model: None when no label passes the threshold)")
    score: float = Field(description="the best label's probability")
    labels: Optional[list[str]] = Field(None, description="multi-label models: every label over the threshold")
    scores: Optional[dict[str, float]] = Field(None, description="every label's probability")


class PredictResponse(BaseModel):
    predictions: list[PredictionOut | ClassificationOut]


class ErrorResponse(BaseModel):
    error: str


class HealthResponse(BaseModel):
    status: str = "ok"


class InfoResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    task: str = "ner"
    labels: list[str]
    entity_types: Optional[list[str]] = None
    classes: Optional[list[str]] = None
    label_colours: Optional[dict[str, dict[str, Any]]] = Field(
        None, description="each entity type (or class): colour, tint (background) and shade (text), by its place "
                          "in the sorted types; repeat: the palette came round again")
    model: str
    backend: str
    head: Optional[str] = None
    features: Optional[str] = None
    scheme: Optional[str] = None
    max_length: Optional[int] = None
    encoder: Optional[str] = None
    model_version: Optional[str] = None
    entitune_version: str
    limits: dict[str, float | str | None]
    processes: Optional[int] = Field(None, description="server processes answering on this port (entitune serve --processes)")
    pid: Optional[int] = Field(None, description="the id of the server process that answered")
