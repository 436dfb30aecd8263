"""Production services, one module per area (products and receiving: mto; orders: prod)."""
