"""The generated catalog of the benchmarks; it lives in :mod:`erp.scale.catalog`."""

from erp.scale.catalog import (  # noqa: F401 - re-exported for the benchmark suites
    COLOURS,
    COUNTRIES,
    DESCRIPTIONS,
    HS_CODES,
    NAMES,
    SIZES,
    SKUS_PER_PRODUCT,
    create_brands,
    create_category_tree,
    ean13,
    insert_catalog,
    iter_sku_values,
    sample_catalog,
    sku_values,
    write_sku_sheet,
)
