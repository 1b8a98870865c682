"""ClickHouse behind one port: chdb in-process (embedded default) or a server (production)."""

from connectors.warehouse.factory import open_warehouse
from connectors.warehouse.port import Params, Row, Warehouse

__all__ = ["Params", "Row", "Warehouse", "open_warehouse"]
