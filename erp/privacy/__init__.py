"""Personal data (GDPR): find, export and anonymise what the ERP holds about one consumer.

Sits above the domains, like ``reports``: it reads and changes orders, parcels, after-sales
cases, refunds and audit events; no domain imports it. The inventory of personal data is in
the docstring of :mod:`erp.privacy.services`.
"""
