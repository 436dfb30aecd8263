"""Cross-cutting pieces every domain uses.

Users, roles and permissions, audit events, document numbering, money and currency, settings,
the state-machine helper, errors, and the Excel and PDF frameworks. Knows nothing of any domain.
"""
