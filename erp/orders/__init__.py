"""Orders: customer orders from the storefront (Excel/CSV and JSON API), allocation and holds.

Reserves stock through the warehouse's services with opaque references to order lines; knows
nothing of parcels or after-sales.
"""
