"""Quality: inspection of received lots against the specification's plan (ISO 2859-1).

Below procurement (which calls it at receiving), above brands, catalog and warehouse. It refers
to suppliers and receipt lines by opaque ids and never imports procurement.
"""
