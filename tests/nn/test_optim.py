"""Optimisers follow their update equations on hand-computed examples; groups, state dicts,
clipping and schedules."""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import nn, optim


def _param(values):
    return nn.Parameter(np.array(values, dtype=np.float64))


def _set_grad(p, values):
    p.grad = sg.tensor(np.array(values, dtype=np.float64))


def test_adam_two_steps_by_hand():
    # theta = 1, lr = 0.1, betas (0.9, 0.999), eps = 1e-8; gradients 2 then -1.
    p = _param([1.0])
    opt = optim.Adam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    _set_grad(p, [2.0])
    opt.step()
    # m1 = 0.1*2 = 0.2, v1 = 0.001*4 = 0.004; m_hat = 0.2/0.1 = 2, v_hat = 0.004/0.001 = 4
    # theta1 = 1 - 0.1 * 2 / (2 + 1e-8)
    theta1 = 1 - 0.1 * 2 / (2 + 1e-8)
    np.testing.assert_allclose(p.data, [theta1], rtol=1e-14)
    _set_grad(p, [-1.0])
    opt.step()
    # m2 = 0.9*0.2 + 0.1*(-1) = 0.08; v2 = 0.999*0.004 + 0.001*1 = 0.004996
    # m_hat = 0.08/0.19, v_hat = 0.004996/0.001999
    m_hat, v_hat = 0.08 / 0.19, 0.004996 / (1 - 0.999**2)
    theta2 = theta1 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(p.data, [theta2], rtol=1e-12)
    st = opt.state_dict()["state"][0]
    assert st["step"] == 2
    np.testing.assert_allclose(st["exp_avg"], [0.08], rtol=1e-14)
    np.testing.assert_allclose(st["exp_avg_sq"], [0.004996], rtol=1e-14)


def test_adam_weight_decay_is_l2_and_adamw_is_decoupled():
    p, q = _param([2.0]), _param([2.0])
    a = optim.Adam([p], lr=0.1, weight_decay=0.5)
    w = optim.AdamW([q], lr=0.1, weight_decay=0.5)
    _set_grad(p, [1.0])
    _set_grad(q, [1.0])
    a.step()
    w.step()
    # Adam: g = 1 + 0.5*2 = 2; first step moves by lr * g/|g| = 0.1 (up to eps)
    np.testing.assert_allclose(p.data, [2.0 - 0.1 * 2 / (2 + 1e-8)], rtol=1e-14)
    # AdamW: theta = 2 (1 - 0.1*0.5) - 0.1 * 1/(1 + eps)
    np.testing.assert_allclose(q.data, [2.0 * 0.95 - 0.1 / (1 + 1e-8)], rtol=1e-14)


def test_adam_matches_torch_over_steps():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    x0 = r.standard_normal(5)
    p = _param(x0)
    tp = torch.tensor(x0, requires_grad=True)
    opt = optim.Adam([p], lr=0.01, betas=(0.5, 0.99), weight_decay=0.1)
    topt = torch.optim.Adam([tp], lr=0.01, betas=(0.5, 0.99), weight_decay=0.1)
    for _ in range(20):
        g = r.standard_normal(5)
        _set_grad(p, g)
        tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_sgd_momentum_and_nesterov_by_hand():
    p, q = _param([1.0]), _param([1.0])
    heavy = optim.SGD([p], lr=0.1, momentum=0.9)
    nest = optim.SGD([q], lr=0.1, momentum=0.9, nesterov=True)
    for g in (1.0, 2.0):
        _set_grad(p, [g])
        _set_grad(q, [g])
        heavy.step()
        nest.step()
    # heavy ball: b1 = 1, theta = 0.9; b2 = 0.9 + 2 = 2.9, theta = 0.9 - 0.29 = 0.61
    np.testing.assert_allclose(p.data, [0.61], rtol=1e-14)
    # Nesterov: b1 = 1, step g + 0.9 b = 1.9 -> 0.81; b2 = 2.9, step 2 + 2.61 = 4.61 -> 0.349
    np.testing.assert_allclose(q.data, [0.349], rtol=1e-13)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)


def test_sgd_weight_decay_and_plain():
    p = _param([2.0])
    opt = optim.SGD([p], lr=0.5, weight_decay=0.1)
    _set_grad(p, [1.0])
    opt.step()
    np.testing.assert_allclose(p.data, [2.0 - 0.5 * (1.0 + 0.2)], rtol=1e-15)


def test_rmsprop_by_hand():
    p = _param([1.0])
    opt = optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-8)
    _set_grad(p, [2.0])
    opt.step()
    # v = 0.1 * 4 = 0.4; theta = 1 - 0.01 * 2 / (sqrt(0.4) + 1e-8)
    np.testing.assert_allclose(p.data, [1 - 0.02 / (math.sqrt(0.4) + 1e-8)], rtol=1e-14)
    c = _param([1.0])
    copt = optim.RMSprop([c], lr=0.01, alpha=0.9, eps=1e-8, centered=True)
    _set_grad(c, [2.0])
    copt.step()
    # centered: v - gbar^2 = 0.4 - 0.04 = 0.36
    np.testing.assert_allclose(c.data, [1 - 0.02 / (0.6 + 1e-8)], rtol=1e-14)


def test_param_groups_use_their_own_settings_and_skip_missing_grads():
    a, b, c = _param([1.0]), _param([1.0]), _param([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": [b, c], "lr": 1.0}], lr=0.1)
    _set_grad(a, [1.0])
    _set_grad(b, [1.0])
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0], c.data[0]], [0.9, 0.0, 1.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    with pytest.raises(ValueError, match="two parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)
    with pytest.raises(ValueError, match="Adam: lr must be a finite number >= 0, got -1"):
        optim.Adam([a], lr=-1)


def test_optimizer_state_dict_resume_is_exact():
    r = np.random.default_rng(1)
    x0 = r.standard_normal((3, 2))
    grads = [r.standard_normal((3, 2)) for _ in range(6)]
    p = _param(x0)
    opt = optim.Adam([p], lr=0.05)
    for g in grads[:3]:
        _set_grad(p, g)
        opt.step()
    saved_p, saved = p.data.copy(), opt.state_dict()
    for g in grads[3:]:
        _set_grad(p, g)
        opt.step()
    q = _param(saved_p)
    opt2 = optim.Adam([q], lr=0.9)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == 0.05
    for g in grads[3:]:
        _set_grad(q, g)
        opt2.step()
    np.testing.assert_array_equal(q.data, p.data)
    bad = optim.Adam([_param(np.zeros((2, 2)))], lr=0.1)
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(3, 2\), expected \(2, 2\)"):
        bad.load_state_dict(saved)


@pytest.mark.parametrize("shape", [(), (1,)], ids=["0-d", "1-d"])
def test_a_scalar_parameters_adam_moments_survive_a_checkpoint_as_arrays(shape, tmp_path):
    # a 0-d parameter's moments are 0-d float arrays; through sg.save/sg.load they used to come back as
    # Python floats (taken for counters), and the resumed run drifted in the 5th digit
    grads = [np.full(shape, v) for v in (0.3, -1.2, 0.7, 2.0, -0.4, 0.9)]
    p = _param(np.full(shape, 0.5))
    opt = optim.Adam([p], lr=0.05)
    for g in grads[:3]:
        _set_grad(p, g)
        opt.step()
    path = str(tmp_path / "o.npz")
    sg.save({"opt": opt.state_dict(), "p": p.data.copy()}, path)
    for g in grads[3:]:
        _set_grad(p, g)
        opt.step()
    back = sg.load(path)
    q = _param(back["p"])
    opt2 = optim.Adam([q], lr=0.05)
    opt2.load_state_dict(back["opt"])
    st = opt2.state[id(q)]
    assert isinstance(st["step"], int) and st["step"] == 3
    assert st["exp_avg"].shape == shape and st["exp_avg"].dtype == q.data.dtype
    for g in grads[3:]:
        _set_grad(q, g)
        opt2.step()
    np.testing.assert_array_equal(q.data, p.data)


def test_clip_grad_norm_and_weight_clipping():
    a, b = _param([0.0, 0.0]), _param([0.0])
    _set_grad(a, [3.0, 0.0])
    _set_grad(b, [4.0])
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert total == pytest.approx(5.0, rel=1e-15)
    np.testing.assert_allclose(np.concatenate([a.grad.data, b.grad.data]), [0.6, 0, 0.8], rtol=1e-6)
    _set_grad(a, [0.3, 0.4])
    optim.clip_grad_norm_([a], max_norm=1.0)
    np.testing.assert_array_equal(a.grad.data, [0.3, 0.4])  # below the bound: untouched
    w = _param([-0.5, 0.005, 0.2])  # (weight clipping: tests/gan/test_penalties.py::test_clip_weights_in_place)
    _set_grad(w, [-3.0, 0.5, 2.0])
    optim.clip_grad_value_([w], 1.0)
    np.testing.assert_array_equal(w.grad.data, [-1.0, 0.5, 1.0])


def test_schedules():
    p = _param([0.0])
    opt = optim.SGD([p], lr=1.0)
    s = optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        s.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]
    opt = optim.SGD([p], lr=1.0)
    c = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(5):
        c.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2,
                                     0.0, 0.0], atol=1e-15)
    opt = optim.SGD([p], lr=1.0)
    w = optim.LinearWarmup(opt, warmup_steps=4, total_steps=8)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(8):
        w.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.25, 0.5, 0.75, 1.0, 1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5,
                                     (1 + math.cos(3 * math.pi / 4)) / 2, 0.0], atol=1e-15)
    st = w.state_dict()
    opt2 = optim.SGD([p], lr=1.0)
    w2 = optim.LinearWarmup(opt2, warmup_steps=4, total_steps=8)
    w2.load_state_dict(st)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_float32_parameters_stay_float32():
    p = nn.Parameter(np.ones(4, dtype=np.float32))
    for opt in (optim.Adam([p], lr=1e-3), optim.SGD([p], lr=0.1, momentum=0.9), optim.RMSprop([p]),
                optim.AdamW([p])):
        p.grad = sg.tensor(np.ones(4, dtype=np.float32))
        opt.step()
        assert p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for st in opt.state.values() for v in st.values() if hasattr(v, "dtype"))
