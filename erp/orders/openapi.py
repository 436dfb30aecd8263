"""The OpenAPI 3.1 document of the storefront API, written by hand (``/api/v1/openapi.json``)."""

from __future__ import annotations

from erp.core.events import EVENT_TYPES

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
    "unit_price": _MONEY,
    "size": {**_OPT_TEXT, "maxLength": 30,
             "description": "A made-to-order line's standard size. A line of a made-to-order "
                            "product needs exactly one of size and measurements (and a paid "
                            "order); a line of another product neither."},
    "measurements": {"type": ["object", "null"],
                     "additionalProperties": {"type": ["number", "string"]},
                     "description": "A made-to-order line's measurements by the product's "
                                    "template codes, e.g. {\"chest_cm\": 96.5}; checked against "
                                    "the template (fields, units, ranges)."}}}
_PAYMENT = {
    "type": ["object", "null"],
    "description": "How the order was paid. Every field is required under trade mode 9610.",
    "properties": {
        "provider": {**_TEXT, "maxLength": 100, "description": "e.g. Stripe, PayPal."},
        "transaction": {**_TEXT, "maxLength": 60,
                        "description": "The provider's transaction number."},
        "amount": {"type": ["string", "number"],
                   "description": "The amount paid, > 0 with at most 2 decimals."},
        "currency": {**_TEXT, "description": "ISO 4217 code of the amount paid, e.g. EUR."},
        "paid_at": {**_TEXT, "format": "date-time",
                    "description": "ISO 8601 with its zone (Z or an offset); stored in UTC."}}}
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
    "payment_method": {**_OPT_TEXT, "maxLength": 20, "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$",
                       "description": "How the buyer paid, a short code (card, paypal, alipay, "
                                      "...); stored lower-case. The payment_fees setting "
                                      "prices each method for the margin report."},
    "notes": _OPT_TEXT,
    "channel": {**_OPT_TEXT, "maxLength": 40, "default": "webshop"},
    "priority": {"type": "integer", "default": 0, "description": "Higher is allocated first."},
    "trade_mode": {"type": ["string", "null"], "enum": ["9610", None],
                   "description": "The customs trade mode: 9610 (cross-border B2C export from "
                                  "China) or none; when not given, the default_trade_mode "
                                  "setting applies."},
    "payment": _PAYMENT,
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


_NUMBER = {"name": "number", "in": "path", "required": True,
           "description": "The storefront's order number.",
           "schema": {"type": "string", "minLength": 1}}
_LIMIT = {"name": "limit", "in": "query", "required": False,
          "description": "Items per page: 1 to 500, default 100.",
          "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}
_UPDATED_SINCE = {"name": "updated_since", "in": "query", "required": False,
                  "description": "ISO 8601 time (UTC without an offset): only what changed at "
                                 "or after it.",
                  "schema": {"type": "string", "format": "date-time"}}
_BAD_PARAMETER = _json("ParameterError", "A query parameter cannot be read (not a number, "
                                         "beyond its range, not a cursor this API gave, an "
                                         "unknown event type); the parameter is named.")
_STATE_CONFLICT = _json("StateConflict", "The order's state does not allow this change; the "
                                         "message and ``state`` name it. Nothing changed.")
_NO_ORDER = _json("Error", "No order has this number.")
_REASON_BODY = {"required": True, "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/ReasonIn"}}}}


def _write(summary: str, operation: str, description: str, *, body: dict | None,
           ok: str = "Order") -> dict:
    """Return a POST operation on one order (cancel, hold, release, address)."""
    op = {"summary": summary, "operationId": operation, "description": description,
          "parameters": [_NUMBER,
                         {"name": "Idempotency-Key", "in": "header", "required": False,
                          "description": "A repeat with the same key (and body) replays the "
                                         "first answer.",
                          "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                     "pattern": "^[\\x20-\\x7e]+$"}}],
          "responses": {
              "200": _json(ok, "The order as it is now."),
              "400": _json("Error", "The body is not JSON, or the Idempotency-Key is "
                                    "malformed."),
              "401": _UNAUTHORIZED, "404": _NO_ORDER,
              "409": _STATE_CONFLICT,
              "422": {"description": "A field was refused (each is named), or the "
                                     "Idempotency-Key was used with another request.",
                      "content": {"application/json": {"schema": {"anyOf": [
                          {"$ref": "#/components/schemas/ValidationErrors"},
                          {"$ref": "#/components/schemas/Error"}]}}}},
              "429": _TOO_MANY}}
    if body is not None:
        op["requestBody"] = body
    return op


OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {"title": "ERP storefront API", "version": "1.0.0",
             "description": "Order intake, order status and changes (cancel, hold, release, "
                            "address), stock, the event feed and the catalog feed for the "
                            "retailer's web store. "
                            "Tokens are created by an admin under Admin > API tokens. "
                            "Requests are rate limited per token (429 with Retry-After)."},
    "servers": [{"url": "/api/v1"}],
    "security": _SECURED,
    "paths": {
        "/orders": {"get": {
            "summary": "Orders changed since a time, oldest change first",
            "operationId": "listChangedOrders",
            "description": "Pages by ``after`` (the ``next_cursor`` of the page before) in "
                           "(updated_at, id) order. For a gap-free record of every change, "
                           "follow /events instead: a timestamp is drawn before its commit.",
            "parameters": [_UPDATED_SINCE,
                           {"name": "after", "in": "query", "required": False,
                            "description": "The next_cursor of the page before.",
                            "schema": {"type": "string"}}, _LIMIT],
            "responses": {"200": _json("OrderPage", "A page of orders."),
                          "400": _BAD_PARAMETER, "401": _UNAUTHORIZED, "429": _TOO_MANY}},
                    "post": {
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
        "/orders/{number}/cancel": {"post": _write(
            "Cancel an order before it ships", "cancelOrder",
            "Releases its reservations, voids its parcels not yet dispatched and writes "
            "order.cancelled. A cancelled order is answered as it is (200, nothing changes). "
            "409 once a parcel left or the order shipped (after-sales takes it from there).",
            body=_REASON_BODY)},
        "/orders/{number}/hold": {"post": _write(
            "Put an order on hold", "holdOrder",
            "Releases its reservations (picked goods stay at the packing bench) and writes "
            "order.held. A held order is answered as it is (200). 409 once shipped or "
            "cancelled.", body=_REASON_BODY)},
        "/orders/{number}/release": {"post": _write(
            "Take an order off hold", "releaseOrder",
            "Sends it back to allocation (or to where its picked goods are) and writes "
            "order.released. 409 when it is not on hold.", body=None)},
        "/orders/{number}/address": {"post": _write(
            "Correct an order's shipping address", "updateOrderAddress",
            "Changes the fields given until the order ships; printed labels of its parcels "
            "are voided (``notices`` names the parcels that need a new label). 409 once "
            "shipped or cancelled; 422 names each bad field.",
            body={"required": True, "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/AddressIn"}}}}, ok="AddressChanged")},
        "/events": {"get": {
            "summary": "The event feed: outbox events in sequence order",
            "operationId": "listEvents",
            "description": "Committed events are numbered before the page is read, so a pull "
                           "sees every committed event. Page with ``after`` = the "
                           "``next_cursor`` of the page before: no event is skipped or "
                           "repeated, even while events are being written.",
            "parameters": [
                {"name": "after", "in": "query", "required": False,
                 "description": "The last sequence number seen (0, the default, is the start).",
                 "schema": {"type": "integer", "minimum": 0,
                            "maximum": 9223372036854775807, "default": 0}},
                _LIMIT,
                {"name": "type", "in": "query", "required": False,
                 "description": "Only these event types (repeat the parameter, or separate "
                                "them with commas).",
                 "schema": {"type": "array", "items": {"type": "string",
                                                       "enum": list(EVENT_TYPES)}},
                 "style": "form", "explode": True}],
            "responses": {"200": _json("EventPage", "A page of events."),
                          "400": _BAD_PARAMETER, "401": _UNAUTHORIZED, "429": _TOO_MANY}}},
        "/products": {"get": {
            "summary": "The catalog feed: products changed since a time",
            "operationId": "listProducts",
            "description": "Brand, category path, text and SKUs (EAN, weight, price, "
                           "availability). A product changes when it or one of its SKUs "
                           "does. Inactive products and SKUs are listed with active: false, "
                           "so the storefront can unpublish them. The ETag is strong (over "
                           "the page's bytes): send it back in If-None-Match for a 304.",
            "parameters": [_UPDATED_SINCE,
                           {"name": "cursor", "in": "query", "required": False,
                            "description": "The next_cursor of the page before.",
                            "schema": {"type": "string"}}, _LIMIT,
                           {"name": "If-None-Match", "in": "header", "required": False,
                            "schema": {"type": "string"}}],
            "responses": {
                "200": {**_json("ProductPage", "A page of products."),
                        "headers": {"ETag": {"schema": {"type": "string"}},
                                    "Cache-Control": {"schema": {"type": "string"}}}},
                "304": {"description": "The page is as it was for the ETag given."},
                "400": _BAD_PARAMETER, "401": _UNAUTHORIZED, "429": _TOO_MANY}}},
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
                    "allocated_quantity": {"type": "integer"},
                    "size": {**_TEXT, "description": "Only on a made-to-order line."},
                    "measurements": {"type": "object", "additionalProperties": _TEXT,
                                     "description": "Only on a made-to-order line: values as "
                                                    "decimal strings."}}}},
                "tracking_numbers": {"type": "array", "items": _TEXT},
                "updated_at": {**_TEXT, "format": "date-time",
                               "description": "When the order last changed."}}},
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
            "OrderPage": {"type": "object", "required": ["orders", "next_cursor", "has_more"],
                          "properties": {
                              "orders": {"type": "array",
                                         "items": {"$ref": "#/components/schemas/Order"}},
                              "next_cursor": {**_OPT_TEXT, "description": "Pass as after."},
                              "has_more": {"type": "boolean"}}},
            "AddressChanged": {"allOf": [{"$ref": "#/components/schemas/Order"}, {
                "type": "object", "required": ["changed", "notices"], "properties": {
                    "changed": {"type": "array", "items": _TEXT,
                                "description": "The fields whose value changed."},
                    "notices": {"type": "array", "items": _TEXT,
                                "description": "What the warehouse must do again, e.g. "
                                               "print a new label."}}}]},
            "ReasonIn": {"type": "object", "required": ["reason"], "properties": {
                "reason": {**_TEXT, "minLength": 1, "maxLength": 200}}},
            "AddressIn": {"type": "object", "minProperties": 1, "additionalProperties": False,
                          "properties": {**_ADDRESS["properties"],
                                         "phone": {**_OPT_TEXT, "maxLength": 40}}},
            "Event": {"type": "object", "required": ["id", "type", "sequence", "timestamp",
                                                     "data"],
                      "properties": {
                          "id": {**_TEXT, "description": "evt_ + 32 hex digits; the same in "
                                                         "webhooks."},
                          "type": {"type": "string", "enum": list(EVENT_TYPES)},
                          "sequence": {"type": "integer", "minimum": 1},
                          "timestamp": {**_TEXT, "format": "date-time"},
                          "data": {"type": "object"}}},
            "EventPage": {"type": "object", "required": ["events", "next_cursor", "has_more"],
                          "properties": {
                              "events": {"type": "array",
                                         "items": {"$ref": "#/components/schemas/Event"}},
                              "next_cursor": {"type": "integer", "minimum": 0,
                                              "description": "Pass as after."},
                              "has_more": {"type": "boolean"}}},
            "Sku": {"type": "object", "required": ["code", "active", "available"],
                    "properties": {
                        "code": _TEXT, "active": {"type": "boolean"},
                        "status": {"type": "string", "enum": ["active", "discontinued"]},
                        "ean": {**_OPT_TEXT, "description": "GTIN-13 (a UPC-A with its "
                                                            "leading zero)."},
                        "barcode": _OPT_TEXT, "colour": _OPT_TEXT, "size": _OPT_TEXT,
                        "weight_g": {"type": "integer", "minimum": 0},
                        "price": {**_OPT_TEXT, "description": "List price, a decimal."},
                        "currency": _OPT_TEXT,
                        "available": {"type": "integer", "minimum": 0,
                                      "description": "As /stock's available; 0 when "
                                                     "inactive."},
                        "in_stock": {"type": "boolean"}}},
            "Product": {"type": "object", "required": ["code", "name", "active", "skus"],
                        "properties": {
                            "code": _TEXT, "name": _TEXT, "description": _OPT_TEXT,
                            "active": {"type": "boolean",
                                       "description": "False: unpublish (no active SKU, or "
                                                      "its brand or category is inactive)."},
                            "brand": {"type": "object", "properties": {"code": _TEXT,
                                                                       "name": _TEXT}},
                            "category": {"type": "object", "properties": {
                                "code": _TEXT,
                                "path": {"type": "array", "items": _TEXT,
                                         "description": "Names from the root down."}}},
                            "updated_at": {**_TEXT, "format": "date-time"},
                            "skus": {"type": "array",
                                     "items": {"$ref": "#/components/schemas/Sku"}}}},
            "ProductPage": {"type": "object",
                            "required": ["products", "next_cursor", "has_more"],
                            "properties": {
                                "products": {"type": "array",
                                             "items": {"$ref": "#/components/schemas/Product"}},
                                "next_cursor": {**_OPT_TEXT, "description": "Pass as cursor."},
                                "has_more": {"type": "boolean"}}},
            "ParameterError": {"type": "object", "required": ["error", "parameter"],
                               "properties": {"error": _TEXT, "parameter": _TEXT}},
            "StateConflict": {"type": "object", "required": ["error"], "properties": {
                "error": _TEXT,
                "state": {"type": "string", "enum": _STATES}}},
            "ValidationErrors": _ERRORS,
            "Conflict": _CONFLICT,
            "Error": _ERROR,
        },
    },
}
