"""Production orders: the list, a production order's page and PDF, its moves, the board."""
