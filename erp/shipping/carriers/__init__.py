"""Carrier adapters: one interface to book, cancel and track shipments with any carrier.

:mod:`erp.shipping.carriers.base` declares the interface and the registry; each carrier's
configuration (``Carrier.adapter``) names the adapter that serves it.
"""
