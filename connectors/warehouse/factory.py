"""Pick the warehouse adapter from the settings: a server URL means production, none means chdb."""

from __future__ import annotations

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.clickhouse_connect_adapter import ClickHouseConnectWarehouse
from streams.ports.warehouse import Warehouse
from streams.settings import Settings


def open_warehouse(settings: Settings) -> Warehouse:
    """``ClickHouseConnectWarehouse`` when ``clickhouse_url`` is set, else chdb under
    ``data_dir/chdb``. Connections open lazily, on the first call."""
    if settings.clickhouse_url:
        password = settings.clickhouse_password
        return ClickHouseConnectWarehouse(
            settings.clickhouse_url,
            settings.clickhouse_user,
            password.get_secret_value() if password else None,
            settings.clickhouse_database,
        )
    return ChdbWarehouse(settings.data_dir / "chdb")
