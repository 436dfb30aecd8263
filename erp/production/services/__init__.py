"""Made-to-order production services: production orders (orders), set-up and receipt (mto)."""
