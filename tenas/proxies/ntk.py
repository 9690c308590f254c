"""NTK condition number κ (TE-NAS's trainability indicator; lower = more trainable).

The function is :func:`tenas.ntk.ntk_condition_number`: one forward of the batch in
train mode (BatchNorm with batch statistics, so samples are coupled), the gradient of
each sample's class-summed logit with respect to every parameter named ``*weight*``,
``Θ = J Jᵀ``, κ = λ_max / λ_min in float64. A degenerate kernel returns the reference's
fallback 1e5 with a warning. The model is left as found.
"""
from tenas.ntk import candidate_condition_numbers, ntk_condition_number
from tenas.proxies._registry import register_proxy

# min_batch_size=2: the NTK of one sample is a 1x1 matrix, whose κ is always 1
# batched: the κs of many alive-sets of one supernet in one vmap (compute.candidate_batch)
register_proxy("ntk", higher_is_better=False, min_batch_size=2, batched=candidate_condition_numbers)(ntk_condition_number)
