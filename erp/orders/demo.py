"""Demo customer orders: about 100 storefront orders to ten countries, allocated from stock.

Everything goes through the services, as the storefront and customer service would: each order
is validated and created by the intake (:func:`validate_order_payload`, :func:`create_order`),
a few are put on hold or cancelled by the customer-service demo user, then a batch allocation
reserves stock (orders for SKUs the demo warehouse lacks become backordered). The newest few
orders are left new, waiting for the next allocation run.

Picking, packed, shipped and delivered come from the outbound flow (pick waves, parcels) of a
later issue; the demo does not fake them.

Idempotent: orders are keyed by their number, and holds, cancellations and allocation are only
done when the demo orders are created.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from erp.catalog.models import Product, Sku, SkuStatus
from erp.core.models import utcnow
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.orders import services
from erp.orders.models import ORDER_STATES, CustomerOrder

#: the demo's order numbers are NP-100001 ... (the storefront's own numbering)
NUMBER_PREFIX = "NP-"
ORDER_COUNT = 100
#: how many of the newest orders stay new (waiting for the next allocation run)
LEFT_NEW = 5
#: the first order index the buyer who ordered twice may take (late: no demo wave takes it)
MERGE_FROM = 86

#: country -> (currency, rate from USD, rounding, [(street, city, region, postal code)])
ADDRESSES: dict[str, tuple[str, str, str, list[tuple[str, str, str | None, str]]]] = {
    "US": ("USD", "1", "0.01", [
        ("742 Evergreen Terrace", "Springfield", "OR", "97477"),
        ("1600 Amphitheatre Pkwy", "Mountain View", "CA", "94043"),
        ("350 5th Ave", "New York", "NY", "10118"),
        ("2211 N First St", "San Jose", "CA", "95131"),
        ("121 S Tejon St", "Colorado Springs", "CO", "80903"),
        ("88 Colin P Kelly Jr St", "San Francisco", "CA", "94107"),
    ]),
    "GB": ("GBP", "0.79", "0.01", [
        ("221B Baker Street", "London", None, "NW1 6XE"),
        ("14 Deansgate", "Manchester", None, "M3 2BW"),
        ("7 Royal Crescent", "Bath", None, "BA1 2LR"),
        ("32 Park Row", "Leeds", None, "LS1 5JD"),
        ("5 Rose Street", "Edinburgh", None, "EH2 2PR"),
    ]),
    "DE": ("EUR", "0.92", "0.01", [
        ("Friedrichstraße 43", "Berlin", None, "10117"),
        ("Maximilianstraße 17", "München", None, "80539"),
        ("Schanzenstraße 12", "Hamburg", None, "20357"),
        ("Königsallee 60", "Düsseldorf", None, "40212"),
        ("Zeil 106", "Frankfurt am Main", None, "60313"),
    ]),
    "FR": ("EUR", "0.92", "0.01", [
        ("12 rue de Rivoli", "Paris", None, "75004"),
        ("8 quai Saint-Antoine", "Lyon", None, "69002"),
        ("25 cours Mirabeau", "Aix-en-Provence", None, "13100"),
        ("3 place du Capitole", "Toulouse", None, "31000"),
    ]),
    "AU": ("AUD", "1.52", "0.01", [
        ("45 George Street", "Sydney", "NSW", "2000"),
        ("120 Collins Street", "Melbourne", "VIC", "3000"),
        ("10 Queen Street", "Brisbane", "QLD", "4000"),
        ("88 Hay Street", "Perth", "WA", "6000"),
    ]),
    "CA": ("CAD", "1.36", "0.01", [
        ("290 Bremner Blvd", "Toronto", "ON", "M5V 3L9"),
        ("1055 W Georgia St", "Vancouver", "BC", "V6E 3P3"),
        ("1250 Rue Peel", "Montréal", "QC", "H3B 4W8"),
    ]),
    "JP": ("JPY", "150", "1", [
        ("1-1-2 Oshiage, Sumida-ku", "Tokyo", "Tokyo", "131-0045"),
        ("2-1-1 Nishi-Shinsaibashi, Chuo-ku", "Osaka", "Osaka", "542-0086"),
        ("5-4 Kitayama-cho, Kita-ku", "Kyoto", "Kyoto", "603-8047"),
    ]),
    "NL": ("EUR", "0.92", "0.01", [
        ("Prinsengracht 263", "Amsterdam", None, "1016 GV"),
        ("Coolsingel 40", "Rotterdam", None, "3011 AD"),
        ("Oudegracht 158", "Utrecht", None, "3511 AZ"),
    ]),
    "ES": ("EUR", "0.92", "0.01", [
        ("Calle de Alcalá 45", "Madrid", "Madrid", "28014"),
        ("Passeig de Gràcia 92", "Barcelona", "Barcelona", "08008"),
        ("Calle Larios 5", "Málaga", "Málaga", "29005"),
    ]),
    "IT": ("EUR", "0.92", "0.01", [
        ("Via del Corso 120", "Roma", "RM", "00186"),
        ("Corso Buenos Aires 33", "Milano", "MI", "20124"),
        ("Via de' Tornabuoni 9", "Firenze", "FI", "50123"),
    ]),
}

#: country -> customer names
NAMES: dict[str, list[str]] = {
    "US": ["Emily Johnson", "Michael Brown", "Olivia Davis", "James Miller", "Sophia Wilson",
           "Daniel Garcia", "Ava Martinez"],
    "GB": ["Oliver Smith", "Amelia Jones", "Harry Taylor", "Isla Brown", "George Evans"],
    "DE": ["Lukas Müller", "Anna Schmidt", "Jonas Schneider", "Lea Fischer", "Felix Weber"],
    "FR": ["Camille Martin", "Lucas Bernard", "Chloé Dubois", "Hugo Moreau"],
    "AU": ["Jack Williams", "Charlotte Wilson", "Noah Thompson", "Mia Anderson"],
    "CA": ["Liam Tremblay", "Emma Roy", "Ethan MacDonald", "Chloe Gagnon"],
    "JP": ["Haruto Sato", "Yui Suzuki", "Sota Takahashi", "Hina Tanaka"],
    "NL": ["Daan de Jong", "Emma Jansen", "Sem de Vries", "Julia van den Berg"],
    "ES": ["Hugo García", "Lucía Fernández", "Martín López", "Sofía Martínez"],
    "IT": ["Leonardo Rossi", "Giulia Russo", "Francesco Ferrari", "Sofia Esposito"],
}
#: how often each country occurs among the orders (US and Europe most)
WEIGHTS = {"US": 24, "GB": 14, "DE": 14, "FR": 9, "AU": 7, "CA": 7, "JP": 5, "NL": 7,
           "ES": 7, "IT": 6}
EU = {"DE", "FR", "NL", "ES", "IT"}
#: how the demo's buyers pay, in turn (priced by the payment_fees setting's defaults)
PAYMENT_METHODS = ("card", "paypal", "card", "alipay", "card", "bank")
SERVICES = {"US": "usps-ground", "CA": "dhl-express", "JP": "dhl-express", "AU": "dhl-express",
            "GB": "royal-mail-intl"}
#: the heaviest parcel (g) each of those services takes (:data:`erp.shipping.demo.SERVICES`);
#: a heavier order goes by DHL Express, as the storefront's checkout would offer
SERVICE_MAX_G = {"usps-ground": 2000, "royal-mail-intl": 2000, "dhl-parcel-eu": 31500,
                 "dhl-express": 70000}

#: order index -> reason: put on hold before allocation
HOLDS = {7: "Address check: apartment number missing",
         23: "Fraud check: billing and shipping countries differ",
         41: "Customer asked to ship together with a pre-order",
         66: "Customs: buyer's tax id to confirm"}
#: order index -> reason: cancelled before allocation
CANCELS = {12: "Customer cancelled by email", 35: "Duplicate of an earlier order",
           58: "Payment declined", 80: "Customer cancelled: ordered the wrong size"}
#: orders whose first line asks for more than the warehouse holds (become backordered)
BULK = {15: 60, 48: 80, 71: 55}


def _price(sku: Sku, rate: str, quantum: str) -> Decimal:
    base = sku.list_price or sku.declared_value or Decimal("20")
    return (base * Decimal(rate)).quantize(Decimal(quantum), rounding=ROUND_HALF_UP)


def _email(name: str, n: int) -> str:
    plain = name.lower().translate(str.maketrans("äöüéèàáíóúñç", "aoueeaaiounc"))
    return f"{plain.replace(' ', '.').replace(chr(39), '')}{n % 7 or ''}@example.com"


def _service(country: str, lines: list[tuple[Sku, int]]) -> str:
    """Return the service the storefront offers for the country and the goods' weight."""
    code = SERVICES.get(country, "dhl-parcel-eu")
    weight = sum((sku.weight_g or 0) * quantity for sku, quantity in lines)
    return code if weight <= SERVICE_MAX_G[code] else "dhl-express"


def _payloads(codes: list[Sku]) -> list[dict]:
    rng = random.Random(20266)
    now = utcnow().replace(microsecond=0)
    countries = [c for c, w in WEIGHTS.items() for _ in range(w)]
    payloads = []
    for i in range(ORDER_COUNT):
        country = rng.choice(countries)
        currency, rate, quantum, addresses = ADDRESSES[country]
        street, city, region, postal_code = rng.choice(addresses)
        name = rng.choice(NAMES[country])
        skus = rng.sample(codes, rng.choice([1, 1, 1, 2, 2, 3]))
        quantities = [rng.choice([1, 1, 1, 2, 3]) for _ in skus]
        if i in BULK:
            quantities[0] = BULK[i]
        lines = [{"sku": sku.code, "quantity": quantity,
                  "unit_price": str(_price(sku, rate, quantum))}
                 for sku, quantity in zip(skus, quantities, strict=True)]
        service = _service(country, list(zip(skus, quantities, strict=True)))
        payloads.append({
            "number": f"{NUMBER_PREFIX}{100001 + i}",
            "placed_at": (now - timedelta(hours=6 * (ORDER_COUNT - i))).isoformat(),
            "customer_name": name, "email": _email(name, i),
            # express couriers need a phone number; other buyers give one now and then
            "phone": None if i % 4 and service != "dhl-express" else
            f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}",
            "shipping_address": {"name": name, "address1": street,
                                 "address2": "Apt 4B" if i % 9 == 0 else None,
                                 "city": city, "region": region, "postal_code": postal_code,
                                 "country": country},
            "currency": currency,
            "shipping_charge": "0" if len(lines) > 1 else str(
                (Decimal("4.95") * Decimal(rate)).quantize(Decimal(quantum))),
            "shipping_service": service,
            "ioss_number": "IM2760000742" if country in EU and i % 3 == 0 else None,
            "priority": 1 if i % 25 == 24 else 0,
            "notes": "Gift wrap, please" if i % 17 == 5 else None,
            # the storefront's payment methods (the payment_fees setting prices them)
            "payment_method": PAYMENT_METHODS[i % len(PAYMENT_METHODS)],
            "lines": lines,
        })
    pair = _same_buyer_twice(payloads)
    for i, payload in enumerate(payloads):
        _add_payment(i, payload, may_export=i not in pair)
    return payloads


#: the provider behind each payment method of the demo's storefront
PROVIDERS = {"card": "Stripe", "paypal": "PayPal", "alipay": "Alipay", "bank": "Wise"}


def _add_payment(i: int, payload: dict, *, may_export: bool = True) -> None:
    """Give a demo order the payment the storefront sends: goods and shipping, paid soon after.

    Every fourth order is exported from China under trade mode 9610 (which requires the
    payment), unless ``may_export`` is False (the buyer who ordered twice: 9610 orders are
    never merged); the order whose payment was declined carries none.
    """
    if CANCELS.get(i) == "Payment declined":
        return
    goods = sum(Decimal(line["unit_price"]) * line["quantity"] for line in payload["lines"])
    method = payload["payment_method"]
    placed = datetime.fromisoformat(payload["placed_at"])
    digest = hashlib.sha256(payload["number"].encode()).hexdigest()[:20]
    payload["payment"] = {
        "provider": PROVIDERS.get(method, "Stripe"), "transaction": f"{method[:2]}_{digest}",
        "amount": str(goods + Decimal(payload["shipping_charge"])),
        "currency": payload["currency"],
        "paid_at": (placed + timedelta(minutes=1 + i % 7)).replace(tzinfo=UTC).isoformat(),
    }
    if i % 4 == 1 and may_export:
        payload["trade_mode"] = "9610"


def _same_buyer_twice(payloads: list[dict]) -> tuple[int, int]:
    """Make two late orders to one country come from one buyer at one address, by one service.

    They are allocated after the waves of the demo took the older orders, so the merge
    candidates page offers them (erp.orders.services.merging). Returns their indexes.
    """
    special = set(HOLDS) | set(CANCELS) | set(BULK)
    # the latest such pair: the demo's waves take the oldest allocated orders first
    late = [i for i in range(len(payloads) - LEFT_NEW - 1, MERGE_FROM - 1, -1)
            if i not in special]
    country_of = {i: payloads[i]["shipping_address"]["country"] for i in late}
    first, second = next((i, j) for n, j in enumerate(late) for i in late[:n]
                         if country_of[i] == country_of[j])
    a, b = payloads[first], payloads[second]
    for key in ("customer_name", "email", "phone"):
        b[key] = a[key]
    b["shipping_address"] = dict(a["shipping_address"])
    # two units each of a SKU the demo stock holds: not one-item orders, which the demo's
    # single-item lane wave would take before they are offered for merging
    for payload in (a, b):
        payload["lines"] = [{**b["lines"][0], "quantity": 2}]
    if a["shipping_service"] != b["shipping_service"]:
        a["shipping_service"] = b["shipping_service"] = "dhl-express"
    if a["shipping_service"] == "dhl-express" and not a["phone"]:
        a["phone"] = b["phone"] = "+34 600 123 456"
    return first, second


def load_demo() -> None:
    """Create the demo customer orders, hold and cancel a few, and allocate them (once)."""
    # made-to-order products need a size or measurements, checked by production's demo set-up
    skus = db.session.scalars(select(Sku).join(Product, Product.id == Sku.product_id)
                              .where(Sku.status == SkuStatus.active,
                                     Product.made_to_order.is_(False))
                              .order_by(Sku.code)).all()
    if not skus:
        return
    existing = set(db.session.scalars(select(CustomerOrder.number).where(
        CustomerOrder.number.like(f"{NUMBER_PREFIX}%"))))
    actor = get_user_by_username("service")
    created: dict[int, CustomerOrder] = {}
    for i, payload in enumerate(_payloads(list(skus))):
        if payload["number"] in existing:
            continue
        cleaned, errors = services.validate_order_payload(payload)
        if errors:
            raise ValueError(f"demo order {payload['number']}: {errors}")
        order, new = services.create_order(cleaned, actor=actor)
        if new:
            created[i] = order
    if not created:
        return
    for i, reason in HOLDS.items():
        if i in created:
            services.hold_order(created[i], reason=reason, actor=actor)
    for i, reason in CANCELS.items():
        if i in created:
            services.cancel_order(created[i], reason=reason, actor=actor)
    waiting = db.session.scalar(select(func.count()).select_from(CustomerOrder).where(
        CustomerOrder.state.in_(sorted(ORDER_STATES.groups["allocatable"])))) or 0
    services.allocate_orders(actor=actor, limit=max(0, waiting - LEFT_NEW))
