"""Hypothesis strategies and reusable property checks, for the test suite and for courses.

Needs the ``test`` extra (hypothesis). Strategies draw the inputs of generative-model math (probability
vectors, pairs of distributions, Gaussian mixtures with their densities, noise schedules, timesteps, image
batches, logits); checks take the function under test and raise ``AssertionError`` with a message in the
student's terms (``check_optimal_discriminator(fn)``, ``check_vjp(primitive, rule, argnum, args)``,
``check_q_posterior(fn)``, ``check_unbiased_mmd(fn)``, ...). Example::

    from hypothesis import given
    from scratchgen.testing import float_arrays
    import scratchgen as sg

    @given(float_arrays(min_value=-3, max_value=3))
    def test_tanh_gradient(x):
        sg.check_grads(sg.tanh, x, order=2)

A grader chooses the number of examples with :func:`property_settings`.
"""
from .autodiff import *
from .diffusion import *
from .gan import *
from .models import *
from .properties import *
from .strategies import *
