"""h-space (scratchgen.diffusion.hspace): the bottleneck hook leaves the network unchanged, the unedited run is
DDIM (eta = 0), and the asymmetric step is Kwon et al.'s Eq. 4, written out here."""
import math

import numpy as np

from scratchgen.diffusion.guidance import ConditionalConvDenoiser
from scratchgen.diffusion.hspace import ddim_h_space, eps_with_h, random_direction_like
from scratchgen.diffusion.models import ConvDenoiser
from scratchgen.diffusion.samplers import ddim_sample
from scratchgen.diffusion.schedules import make_schedule


def _net(cls=ConvDenoiser, seed=0):
    m = cls(1, 4, 8, dtype=np.float64, generator=seed)
    m.conv_out.weight.data[...] = np.random.default_rng(seed + 7).standard_normal(m.conv_out.weight.shape) * 0.2
    m.eval()
    return m


def test_the_hook_reads_the_bottleneck_and_changes_nothing():
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
    for cls in (ConvDenoiser, ConditionalConvDenoiser):
        m = _net(cls)
        seen = []
        out = eps_with_h(m, x, 37, lambda d: seen.append(d.data.copy()) or d)
        plain = m(x, np.full(3, 37)).data
        assert np.array_equal(out, plain)
        assert seen[0].shape == (3, 8, 4, 4)  # (B, 2C, H/2, W/2)


def test_without_an_edit_it_is_ddim_with_eta_0():
    m, sched = _net(), make_schedule("linear", 100)
    xT = np.random.default_rng(1).standard_normal((4, 1, 8, 8))
    a = ddim_h_space(m, sched, xT, steps=10)
    b = ddim_sample(sched, m, x_T=xT, steps=10, eta=0.0)
    assert np.abs(a - b).max() < 1e-10
    z = ddim_h_space(m, sched, xT, steps=10, delta_h=np.zeros((1, 8, 4, 4)))
    assert np.abs(z - a).max() < 1e-12
    x0, hs, taus = ddim_h_space(m, sched, xT, steps=10, record=True)
    assert hs.shape == (10, 4, 8, 4, 4) and taus[0] == 100 and taus[-1] == 1 and np.array_equal(x0, a)


def test_the_asymmetric_step_is_kwon_eq_4():
    m, sched = _net(seed=3), make_schedule("linear", 100)
    xT = np.random.default_rng(2).standard_normal((2, 1, 8, 8))
    dh = np.random.default_rng(3).standard_normal((1, 8, 4, 4))
    shift = lambda d: d + dh  # noqa: E731
    for asym in (True, False):
        got = ddim_h_space(m, sched, xT, steps=2, delta_h=dh, t_edit=50, asymmetric=asym)
        # the steps are t = 100 (edited, >= 50), then t = 1 (not edited) down to 0
        ab, ab1 = float(sched.alpha_bar[100]), float(sched.alpha_bar[1])
        eps, eps_e = eps_with_h(m, xT, 100), eps_with_h(m, xT, 100, shift)
        x1 = math.sqrt(ab1) * (xT - math.sqrt(1 - ab) * eps_e) / math.sqrt(ab) + math.sqrt(1 - ab1) * (eps if asym else eps_e)
        want = (x1 - math.sqrt(1 - ab1) * eps_with_h(m, x1, 1)) / math.sqrt(ab1)  # last step: x_0 = x0_hat
        assert np.abs(got - want).max() < 1e-10
    sym = ddim_h_space(m, sched, xT, steps=2, delta_h=dh, t_edit=50, asymmetric=False)
    asym = ddim_h_space(m, sched, xT, steps=2, delta_h=dh, t_edit=50)
    assert np.abs(sym - asym).max() > 1e-6


def test_random_direction_has_the_norm_of_each_step():
    d = np.random.default_rng(0).standard_normal((5, 8, 4, 4)) * np.arange(1, 6)[:, None, None, None]
    r = random_direction_like(d, 1)
    assert np.abs(np.linalg.norm(r.reshape(5, -1), axis=1) - np.linalg.norm(d.reshape(5, -1), axis=1)).max() < 1e-10
    cos = (r * d).sum() / np.linalg.norm(r) / np.linalg.norm(d)
    assert abs(cos) < 0.2  # a random direction in 640 dimensions is nearly orthogonal
