"""Small helpers to declare documented Arrow fields."""

from __future__ import annotations

import pyarrow as pa


def field(name: str, type_: pa.DataType, doc: str, nullable: bool = True, **meta: str) -> pa.Field:
    """An Arrow field whose metadata carries ``doc`` (and any extra string entries)."""
    metadata = {"doc": doc, **meta}
    return pa.field(name, type_, nullable=nullable, metadata={k: v.encode() for k, v in metadata.items()})


def schema(fields: list[pa.Field], doc: str) -> pa.Schema:
    """A schema whose metadata carries ``doc``."""
    return pa.schema(fields, metadata={b"doc": doc.encode()})


def doc_of(obj: pa.Field | pa.Schema) -> str:
    meta = obj.metadata or {}
    return meta.get(b"doc", b"").decode()
