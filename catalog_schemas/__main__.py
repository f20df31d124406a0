"""Render every schema as Markdown: ``python -m catalog_schemas > docs/schemas.md``."""

from __future__ import annotations

import sys

import pyarrow as pa

from catalog_schemas import ALL_SCHEMAS
from catalog_schemas._fields import doc_of


def render_markdown(schemas: dict[str, pa.Schema] = ALL_SCHEMAS) -> str:
    """Markdown text documenting ``schemas`` (name -> schema)."""
    lines = [
        "# Table schemas",
        "",
        "Generated from `catalog_schemas/` by `python -m catalog_schemas > docs/schemas.md`; do not edit by hand.",
        "",
    ]
    import catalog_schemas

    lines += [catalog_schemas.__doc__.strip(), ""]
    for name, sch in schemas.items():
        lines += [f"## {name}", "", doc_of(sch), "", "| column | type | required | meaning |", "|---|---|---|---|"]
        for f in sch:
            extra = {k.decode(): v.decode() for k, v in (f.metadata or {}).items() if k != b"doc"}
            meaning = doc_of(f).replace("|", "\\|")
            if extra:
                meaning += " (" + ", ".join(f"{k}={v}" for k, v in extra.items()) + ")"
            lines.append(f"| `{f.name}` | {f.type} | {'yes' if not f.nullable else 'no'} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
