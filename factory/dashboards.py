"""``python -m factory.dashboards NAME k=v ...``: run one analysts' query and print its rows."""

from __future__ import annotations

import asyncio
import sys

from connectors.warehouse.factory import open_warehouse
from streams.settings import Settings
from warehouse.dashboards import names, run


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("dashboards:", ", ".join(names()))
        return
    name, *pairs = args
    params = dict(pair.split("=", 1) for pair in pairs)
    settings = Settings()

    async def go() -> None:
        warehouse = open_warehouse(settings)
        try:
            for row in await run(warehouse, name, settings.clickhouse_database, **params):
                print(row)
        finally:
            await warehouse.close()

    asyncio.run(go())


if __name__ == "__main__":
    main()
