"""The monthly summary of the dispatched 9610 list lines, and its trace back to parcels."""
