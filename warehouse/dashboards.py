"""The analysts' queries in ``dashboards/*.sql``: load by name, run with parameters.

python -m factory.dashboards top_shorts limit=10
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from streams.ports.warehouse import Warehouse

DASHBOARDS = Path(__file__).resolve().parent.parent / "dashboards"


@cache
def query_text(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a dashboard name: {name!r}")
    path = DASHBOARDS / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in DASHBOARDS.glob("*.sql")))
        raise ValueError(f"no dashboard {name!r}; known: {known}")
    return path.read_text(encoding="utf-8")


def names() -> list[str]:
    return sorted(p.stem for p in DASHBOARDS.glob("*.sql"))


async def run(
    warehouse: Warehouse, name: str, database: str, **params: Any
) -> list[dict[str, Any]]:
    """Rows of dashboard ``name``; the database goes in as an identifier parameter."""
    return await warehouse.query(query_text(name), {"db": database, **params})
