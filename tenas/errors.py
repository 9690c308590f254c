"""The one exception type tenas raises for bad input; entry points print it as one line."""


class TenasError(Exception):
    """Bad input or environment (unknown op, missing dataset, malformed genotype, ...)."""
