"""The neural tangent kernel engine of tenas (the search's κ uses it) and the NTK toolkit.

Engine: :func:`jacobian`, :func:`ntk_matrix`, :func:`condition_number`. Toolkit:
:func:`empirical_ntk` (cross / per-class kernels), :func:`kernel_spectrum`,
:func:`two_layer_relu_ntk` with :class:`TwoLayerReLU` (infinite-width limit),
:func:`gradient_flow` / :func:`gradient_descent` (linearised training dynamics).
"""
from tenas.ntk.empirical import (
    DEGENERATE_KAPPA,
    candidate_condition_numbers,
    candidate_ntk_matrices,
    condition_number,
    jacobian,
    ntk_condition_number,
    ntk_matrix,
    select_parameters,
)
from tenas.ntk.analytic import TwoLayerReLU, two_layer_relu_ntk
from tenas.ntk.dynamics import LinearizedPrediction, gradient_descent, gradient_flow
from tenas.ntk.kernel import empirical_ntk
from tenas.ntk.spectrum import Spectrum, kernel_spectrum

__all__ = ["DEGENERATE_KAPPA", "candidate_condition_numbers", "candidate_ntk_matrices", "condition_number", "jacobian", "ntk_condition_number", "ntk_matrix", "select_parameters"]
__all__ += [
    "empirical_ntk",
    "kernel_spectrum",
    "Spectrum",
    "two_layer_relu_ntk",
    "TwoLayerReLU",
    "gradient_flow",
    "gradient_descent",
    "LinearizedPrediction",
]
