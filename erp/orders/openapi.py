"""The OpenAPI 3.1 document of the storefront API, written by hand (``/api/v1/openapi.json``)."""

from __future__ import annotations

_ERRORS = {"type": "object", "required": ["errors"], "properties": {"errors": {
    "type": "object", "additionalProperties": {"type": "string"},
    "description": 'Messages by field path, e.g. "lines[1].quantity": "must be a whole number".'}}}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
_CONFLICT = {"type": "object", "required": ["error", "differences"], "properties": {
    "error": {"type": "string"},
    "differences": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": 'What differs by field path, e.g. "lines": "SKU TS-RED-M '
                                   'quantity 3 != 2 stored".'}}}
_TEXT = {"type": "string"}
_OPT_TEXT = {"type": ["string", "null"]}
_MONEY = {"type": ["string", "number"], "description": "A decimal amount >= 0, e.g. \"12.50\"."}

_ADDRESS = {
    "type": "object", "required": ["name", "address1", "city", "country"],
    "properties": {
        "name": {**_TEXT, "maxLength": 120}, "address1": {**_TEXT, "maxLength": 200},
        "address2": {**_OPT_TEXT, "maxLength": 200}, "city": {**_TEXT, "maxLength": 100},
        "region": {**_OPT_TEXT, "maxLength": 100, "description": "State or province."},
        "postal_code": {**_OPT_TEXT, "maxLength": 20,
                        "description": "Required except for countries without postal codes "
                                       "(e.g. HK, AE, QA, IE)."},
        "country": {**_TEXT, "description": "ISO 3166-1 alpha-2 code, e.g. DE."},
    },
}
_LINE_IN = {"type": "object", "required": ["sku", "quantity", "unit_price"], "properties": {
    "sku": {**_TEXT, "description": "An active SKU's code or barcode."},
    "quantity": {"type": "integer", "minimum": 1,
                 "description": "A line above the order_review_quantity setting (default 100) "
                                "puts the order on hold for review."},
    "unit_price": _MONEY}}
_ORDER_FIELDS = {
    "number": {**_TEXT, "maxLength": 40, "description": "The storefront's order number."},
    "placed_at": {**_TEXT, "format": "date-time",
                  "description": "ISO 8601; without an offset it is taken as UTC. At most a "
                                 "day ahead of now."},
    "customer_name": {**_TEXT, "maxLength": 120},
    "email": {**_OPT_TEXT, "format": "email", "maxLength": 254},
    "phone": {**_OPT_TEXT, "maxLength": 40},
    "currency": {**_TEXT, "description": "ISO 4217 code, e.g. EUR."},
    "shipping_charge": _MONEY,
    "shipping_service": {**_OPT_TEXT, "maxLength": 40,
                         "description": "The code of an active shipping service that serves "
                                        "the country and takes the goods' estimated weight "
                                        "(catalog weight x quantity) and sizes; none lets the "
                                        "packing bench choose."},
    "ioss_number": {**_OPT_TEXT, "pattern": "^IM[0-9]{10}$"},
    "buyer_tax_id": {**_OPT_TEXT, "maxLength": 40},
    "notes": _OPT_TEXT,
    "channel": {**_OPT_TEXT, "maxLength": 40, "default": "webshop"},
    "priority": {"type": "integer", "default": 0, "description": "Higher is allocated first."},
}
_STATES = ["new", "allocated", "backordered", "picking", "packed", "shipped", "delivered",
           "on_hold", "cancelled"]

_SECURED = [{"bearerAuth": []}]
_UNAUTHORIZED = {"description": "Missing, unknown or revoked token.", "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


_TOO_MANY = {
    "description": "Over the rate limit (ERP_API_RATE_LIMIT, counted per token; per address "
                   "for this document and for requests without a valid token).",
    "headers": {"Retry-After": {"description": "Seconds to wait before trying again.",
                                "schema": {"type": "integer", "minimum": 1}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(ref: str, description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {"title": "ERP storefront API", "version": "1.0.0",
             "description": "Order intake, order status and stock for the retailer's web store. "
                            "Tokens are created by an admin under Admin > API tokens. "
                            "Requests are rate limited per token (429 with Retry-After)."},
    "servers": [{"url": "/api/v1"}],
    "security": _SECURED,
    "paths": {
        "/orders": {"post": {
            "summary": "Create an order (idempotent on its number)",
            "operationId": "createOrder",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/OrderIn"}}}},
            "responses": {
                "201": _json("Order", "The order was created."),
                "200": _json("Order", "An order with this number exists with the same values; "
                                      "it is returned and nothing was written."),
                "400": _json("Error", "The body is not JSON."),
                "401": _UNAUTHORIZED,
                "413": _json("Error", "The body is larger than the upload limit."),
                "409": _json("Conflict", "An order with this number exists with different "
                                         "values; each difference is named and nothing was "
                                         "written."),
                "422": _json("ValidationErrors", "The order was refused (bad values, or it "
                                                 "cannot ship with its service); nothing was "
                                                 "stored."),
                "429": _TOO_MANY,
            }}},
        "/orders/{number}": {"get": {
            "summary": "Read an order: state, lines and tracking numbers",
            "operationId": "getOrder",
            "parameters": [{"name": "number", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": _json("Order", "The order."), "401": _UNAUTHORIZED,
                          "404": _json("Error", "No order has this number."),
                          "429": _TOO_MANY}}},
        "/stock": {"get": {
            "summary": "Available, inbound and blocked quantities per active SKU",
            "operationId": "getStock",
            "parameters": [{"name": "sku", "in": "query", "required": False,
                            "description": "SKU codes to return (repeat the parameter); "
                                           "all active SKUs when absent.",
                            "schema": {"type": "array", "items": {"type": "string"}},
                            "style": "form", "explode": True}],
            "responses": {"200": _json("Stock", "Stock per SKU, by code."),
                          "401": _UNAUTHORIZED, "429": _TOO_MANY}}},
        "/openapi.json": {"get": {
            "summary": "This document", "operationId": "getOpenApi", "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                                  "content": {"application/json": {}}},
                          "429": _TOO_MANY}}},
    },
    "components": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                           "description": "Authorization: Bearer <token>"}},
        "schemas": {
            "Address": _ADDRESS,
            "LineIn": _LINE_IN,
            "OrderIn": {"type": "object",
                        "required": ["number", "placed_at", "customer_name", "shipping_address",
                                     "currency", "lines"],
                        "properties": {
                            **_ORDER_FIELDS,
                            "shipping_address": {"$ref": "#/components/schemas/Address"},
                            "lines": {"type": "array", "minItems": 1, "maxItems": 500,
                                      "items": {"$ref": "#/components/schemas/LineIn"}}}},
            "Order": {"type": "object", "properties": {
                **_ORDER_FIELDS,
                "state": {"type": "string", "enum": _STATES},
                "hold_reason": {**_OPT_TEXT, "description": "Why the order is on hold, e.g. "
                                                            "a line above the review quantity."},
                "shipping_address": {"$ref": "#/components/schemas/Address"},
                "lines": {"type": "array", "items": {"type": "object", "properties": {
                    "sku": _TEXT, "quantity": {"type": "integer"}, "unit_price": _TEXT,
                    "allocated_quantity": {"type": "integer"}}}},
                "tracking_numbers": {"type": "array", "items": _TEXT}}},
            "Stock": {"type": "object", "required": ["stock"], "properties": {"stock": {
                "type": "array", "items": {"$ref": "#/components/schemas/StockItem"}}}},
            "StockItem": {
                "type": "object", "required": ["sku", "available", "inbound", "blocked"],
                "properties": {
                    "sku": _TEXT,
                    "available": {"type": "integer", "minimum": 0,
                                  "description": "What an order can still reserve: on hand "
                                                 "less reserved in active storage bins that no "
                                                 "stock count freezes."},
                    "inbound": {"type": "integer", "minimum": 0,
                                "description": "On hand in receiving bins, waiting to be put "
                                               "away; available once it is."},
                    "blocked": {"type": "integer", "minimum": 0,
                                "description": "On hand that cannot be sold now: in "
                                               "quarantine, returns, packing, shipping or "
                                               "inactive bins, or frozen by a stock count."}}},
            "ValidationErrors": _ERRORS,
            "Conflict": _CONFLICT,
            "Error": _ERROR,
        },
    },
}
