"""ClickHouse behind one port: chdb in-process (embedded default) or a server (production).

Importing the package stays light (the port only): ``connectors.warehouse.factory`` imports the
adapters, and with them chdb and pyarrow, which take seconds to load.
"""

from streams.ports.warehouse import Params, Row, Warehouse

__all__ = ["Params", "Row", "Warehouse"]
