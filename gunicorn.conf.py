"""gunicorn's settings for erp: ``gunicorn -c gunicorn.conf.py -w 4 -b 127.0.0.1:8000``.

The README's production command and the ``load`` benchmarks use this file.

- ``preload_app``: the master imports the app (``erp.wsgi``, which warms it up: templates
  compiled, mappers configured, catalogs read) once, before it forks the workers, which share
  that work instead of each doing it on its first requests. Not with the in-process ticker
  (``ERP_TICKER``), whose thread must run in each worker, as without this file.
- ``post_fork``: a worker never uses a database connection of the master (none is opened
  while loading, but a pool copied over a fork must not be shared): each engine's pool is
  dropped, without closing the master's connections.
"""

import os

wsgi_app = "erp.wsgi:app"
timeout = 120
preload_app = os.environ.get("ERP_TICKER", "").strip().lower() not in {"1", "true", "yes", "on"}


def post_fork(server, worker):
    """Drop the database pools the worker inherited from the master (it opens its own)."""
    if not preload_app:
        return
    from erp.extensions import db
    from erp.wsgi import app

    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
