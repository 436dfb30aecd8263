"""Warehouse: warehouses and bins, the stock ledger, reservations, transfers, adjustments, counts.

Every change of stock in the system goes through ``warehouse.services``. The ledger records moves
with an opaque reference (``ref_type``, ``ref_id``) and knows nothing of purchase orders, customer
orders or parcels.
"""
