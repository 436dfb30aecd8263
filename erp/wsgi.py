"""The WSGI entry point for application servers: ``gunicorn 'erp.wsgi:app'``.

Settings come from ``ERP_*`` environment variables (:class:`erp.config.Config`).
"""

from erp import create_app

app = create_app()
