"""The neural tangent kernel engine of tenas (the search's κ uses it)."""
from tenas.ntk.empirical import (
    DEGENERATE_KAPPA,
    condition_number,
    jacobian,
    ntk_condition_number,
    ntk_matrix,
    select_parameters,
)

__all__ = ["DEGENERATE_KAPPA", "condition_number", "jacobian", "ntk_condition_number", "ntk_matrix", "select_parameters"]
