"""Procurement: suppliers, price lists, purchase orders, approval, receiving, replenishment.

Calls the warehouse's services to put received stock on the shelf (with an opaque reference to
the receipt line); the warehouse knows nothing of purchase orders.
"""
