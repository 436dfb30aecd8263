"""After-sales services, one module per area.

Cases and reason codes, returns (receipt and inspection), resolution (refunds and
replacements). Callers import from the area's module.
"""
