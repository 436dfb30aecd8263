"""Shipping services, one module per area.

Carriers, tracking, waves, packing, parcels, customs, dispatch. Callers import from the
area's module (``erp.shipping.services.waves``).
"""
