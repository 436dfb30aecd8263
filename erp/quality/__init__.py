"""Quality: inspection plans from specifications, ISO 2859-1 sampling and inspections.

Below procurement (which calls it at receiving), above brands, catalog and warehouse. It refers
to suppliers and receipt lines by opaque ids and never imports procurement.
"""
