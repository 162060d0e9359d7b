"""Normalizing flows: affine coupling layers (RealNVP), an LU-parameterised invertible linear map
(Glow), the exact log-likelihood by the change of variables, and a trainer on the toy 2-D sets.

The trainer (``scratchgen.flows.train``) loads with its first import, as the other families' do."""
from .flow import MIXINGS, Flow
from .layers import AffineCoupling, LUMixing, parity_mask, standard_normal_log_prob
