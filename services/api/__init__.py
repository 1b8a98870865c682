"""The producer HTTP API (FastAPI): problems and knowledge documents in, Kafka events out.

Import from the modules themselves (``services.api.app``, ``.deps``, ``.auth``...). This file
stays empty on purpose: ``munjero`` and every worker import ``services.api.auth`` for keys, and
a package that loaded the whole app (FastAPI, the dashboard, scipy for its statistics) cost
every CLI command and every worker start ~4 s of CPU (``tests/unit/test_cli.py``).
"""
