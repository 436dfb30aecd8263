"""The WSGI entry point for application servers: ``gunicorn 'erp.wsgi:app'``.

Settings come from ``ERP_*`` environment variables (:class:`erp.config.Config`).

The app warms itself up when it is loaded (:func:`warm_up`): every template is compiled, the
ORM's mappers are configured and each language's catalog is read, so no worker pays for them on
its first requests (a worker's first pages cost three times the CPU of later ones without). Under
``gunicorn -c gunicorn.conf.py`` (the repository's settings) the app is loaded once in the master
before the workers fork, so the work is done once and shared.
"""

from erp import create_app


def warm_up(app) -> None:
    """Do at load time what the first requests of a fresh process would do lazily.

    Nothing here touches the database or keeps a connection: it is safe before a fork. Caches
    filled are the ones the app already has (Jinja's template cache, the mappers, Flask-Babel's
    catalogs), each of which only ever holds what the code and the files say.
    """
    from flask_babel import force_locale, get_translations
    from sqlalchemy.orm import configure_mappers

    from erp.core.i18n import LANGUAGES

    configure_mappers()
    for name in app.jinja_env.list_templates(extensions=("html", "txt", "xml")):
        app.jinja_env.get_template(name)
    with app.test_request_context():
        for language in LANGUAGES:
            with force_locale(language):
                get_translations()


app = create_app()
warm_up(app)
