"""Made-to-order products: the maker, production time, sizes and measurement template."""
