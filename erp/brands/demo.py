"""Demo brands: three private brands with trademarks and purchasing specifications."""

from __future__ import annotations

from datetime import date

from erp.brands import plans, services
from erp.core.services import get_user_by_username

OWNER = "Lantern & Loom Trading Ltd"

#: code, name, trademarks (country, number, registered on, Nice classes)
BRANDS = [
    ("LUMA", "Luma Home", [
        ("CN", "58213377", date(2021, 3, 14), "24"),
        ("US", "6402915", date(2021, 7, 6), "24"),
        ("DE", "302021104588", date(2021, 9, 2), "24"),
    ]),
    ("NORDPEAK", "Nordpeak Outdoor", [
        ("CN", "60118942", date(2022, 1, 21), "18, 25"),
        ("US", "6781204", date(2022, 6, 28), "18, 25"),
        ("GB", "UK00003719204", date(2022, 4, 8), "18, 25"),
    ]),
    ("KIBO", "Kibo Kids", [
        ("CN", "64420517", date(2023, 2, 7), "25, 28"),
        ("US", "7150338", date(2023, 8, 15), "25"),
    ]),
]

#: brand code -> specifications: (content of v1, changes for a draft v2 or None, approve v1)
SPECIFICATIONS = {
    "LUMA": [
        ({"title": "Percale duvet cover", "product_type": "Bed linen",
          "material": "100% cotton percale, 200 thread count, combed long-staple yarn",
          "composition": "Cotton 100%", "dimensions": "Single 135 x 200 cm; double 200 x 200 cm",
          "tolerances": "Length and width +/- 2 cm after one wash at 40 °C",
          "packaging": "Folded in a kraft paper sleeve; 10 per export carton",
          "labelling": "Sewn-in brand label; size label; EU and US fibre content",
          "care_label": "Machine wash 40 °C, tumble dry low, iron medium",
          "quality_standard": "OEKO-TEX Standard 100, class I",
          "inspection_level": "AQL 2.5, general inspection level II"},
         {"tolerances": "Length and width +/- 1.5 cm after three washes at 40 °C",
          "notes": "v2: tighter shrinkage after the 2025 customer returns review."}, True),
        ({"title": "Waffle bath towel", "product_type": "Towels",
          "material": "Waffle-weave cotton, 450 g/m²", "composition": "Cotton 100%",
          "dimensions": "70 x 140 cm", "care_label": "Machine wash 60 °C",
          "quality_standard": "OEKO-TEX Standard 100", "inspection_level": "AQL 2.5"},
         None, True),
    ],
    "NORDPEAK": [
        ({"title": "Fleece hoodie", "product_type": "Outerwear",
          "material": "Recycled polyester fleece, 280 g/m², anti-pill finish",
          "composition": "Polyester 100% (recycled)", "dimensions": "Sizes S-XXL per size chart",
          "tolerances": "Chest and length +/- 1 cm", "packaging": "Polybag with warning text",
          "labelling": "Neck label; care label in EN, DE, FR",
          "care_label": "Machine wash 30 °C, do not tumble dry",
          "quality_standard": "Pilling ISO 12945-2 grade 4", "inspection_level": "AQL 2.5"},
         None, True),
        ({"title": "Day pack 20 L", "product_type": "Bags",
          "material": "600D recycled polyester, PU coated", "dimensions": "45 x 28 x 16 cm",
          "quality_standard": "Seam strength 250 N", "inspection_level": "AQL 4.0"},
         None, False),
    ],
    "KIBO": [
        ({"title": "Kids cotton T-shirt", "product_type": "Kidswear",
          "material": "Organic cotton single jersey, 160 g/m²", "composition": "Cotton 100%",
          "dimensions": "Sizes 92-140", "labelling": "No neck label: printed heat transfer",
          "care_label": "Machine wash 40 °C",
          "quality_standard": "EN 14682 (no drawstrings), CPSIA lead limits",
          "inspection_level": "AQL 1.5"},
         None, True),
    ],
}


M, V, F, P, L = "measurement", "visual", "functional", "packaging", "labelling"
#: specification title -> inspection plan: level, AQL critical/major/minor, checks (kind, class,
#: what, method, nominal, tolerance -, tolerance +, unit)
PLANS = {
    "Percale duvet cover": ("II", None, "2.5", "4.0", [
        (F, "critical", "No needle or metal fragment in the product", "Needle detector", None,
         None, None, None),
        (M, "major", "Length after one wash at 40 °C", "Tape measure, flat", "200", "2", "2",
         "cm"),
        (M, "major", "Width after one wash at 40 °C", "Tape measure, flat", "200", "2", "2",
         "cm"),
        (V, "major", "No hole, stain or open seam", "Visual, 1 m under daylight lamp", None,
         None, None, None),
        (V, "minor", "No loose thread longer than 1 cm", None, None, None, None, None),
        (F, "major", "Buttons close and hold", "Pull test 50 N", None, None, None, None),
        (L, "major", "Brand, size and fibre content labels sewn in", None, None, None, None,
         None),
        (P, "minor", "Kraft sleeve; 10 per carton; carton marks", None, None, None, None,
         None),
    ]),
    "Fleece hoodie": ("II", None, "2.5", "4.0", [
        (M, "major", "Chest width, size M", "Flat, 2 cm below armhole", "56", "1", "1", "cm"),
        (M, "major", "Body length, size M", "High point shoulder to hem", "72", "1", "1", "cm"),
        (V, "major", "No pilling, shade variation or stain", None, None, None, None, None),
        (F, "major", "Zip runs smoothly end to end", "10 cycles", None, None, None, None),
        (L, "major", "Care label in EN, DE, FR", None, None, None, None, None),
        (P, "minor", "Polybag with suffocation warning", None, None, None, None, None),
    ]),
    "Kids cotton T-shirt": ("II", None, "1.5", "4.0", [
        (F, "critical", "No drawstring or cord at neck (EN 14682)", None, None, None, None,
         None),
        (F, "critical", "No needle or metal fragment", "Needle detector", None, None, None,
         None),
        (M, "major", "Chest width, size 116", "Flat, 2 cm below armhole", "36", "1", "1", "cm"),
        (V, "major", "Print complete, no cracking after one wash", None, None, None, None,
         None),
        (V, "minor", "No loose thread longer than 1 cm", None, None, None, None, None),
        (L, "major", "Heat-transfer label legible", None, None, None, None, None),
    ]),
}


def _add_plan(version, actor) -> None:
    plan = PLANS.get(version.title)
    if plan is None:
        return
    level, critical, major, minor, checks = plan
    plans.set_plan(version, {"sampling_level": level, "aql_critical": critical,
                             "aql_major": major, "aql_minor": minor}, actor=actor)
    for kind, cls, what, method, nominal, minus, plus, unit in checks:
        plans.add_check(version, {"kind": kind, "defect_class": cls, "description": what,
                                  "method": method, "nominal": nominal,
                                  "tolerance_minus": minus, "tolerance_plus": plus,
                                  "unit": unit}, actor=actor)


def load_demo() -> None:
    """Create the demo brands with their trademarks and specifications (once; idempotent)."""
    author = get_user_by_username("purchasing")
    approver = get_user_by_username("manager")
    for code, name, trademarks in BRANDS:
        if services.get_brand_by_code(code) is not None:
            continue
        brand = services.create_brand(code=code, name=name, kind="private",
                                      owner_company=OWNER, actor=author)
        for country, number, registered_on, classes in trademarks:
            services.add_trademark(brand, country=country, number=number,
                                   registered_on=registered_on, classes=classes, actor=author)
        for content, draft_changes, approve in SPECIFICATIONS[code]:
            spec = services.create_specification(brand, content, actor=author)
            _add_plan(spec.latest, author)
            if approve:
                services.approve_specification_version(spec.latest, actor=approver)
            if draft_changes:
                draft = services.new_specification_version(spec, actor=author)
                services.update_specification_version(draft, draft_changes, actor=author)
