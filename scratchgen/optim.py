r"""Optimisers, gradient and weight clipping, learning-rate schedules (as ``torch.optim``).

Notation: parameters :math:`\theta`, gradient :math:`g_t = \nabla_\theta L(\theta_{t-1})`,
learning rate :math:`\eta`, step :math:`t = 1, 2, \dots`. Each optimiser's
docstring gives its update; the code below it is that update, in place, on the
arrays (no tape is recorded). Hyper-parameters live in *parameter groups*
(``[{"params": [...], "lr": ...}, ...]``), so that parts of a model can use
different settings; ``state_dict()`` / ``load_state_dict()`` save and restore
the groups' settings and every per-parameter buffer, for bit-identical resumption.

References: Polyak (1964) momentum; Sutskever et al. (2013) Nesterov momentum in
this form; Kingma & Ba (2015) Adam, Algorithm 1; Loshchilov & Hutter (2019) AdamW,
Algorithm 2; Tieleman & Hinton (2012) RMSprop; Arjovsky et al. (2017) WGAN weight
clipping; Loshchilov & Hutter (2017) SGDR cosine schedule; Goyal et al. (2017) warm-up.
"""
from __future__ import annotations

import copy
import math

from .autodiff.tensor import Tensor
from .backend import asarray, get_xp
from .validate import check_bool, check_int, check_number, check_pair

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop",
    "clip_grad_norm_", "clip_grad_value_",
    "LRScheduler", "StepLR", "CosineAnnealingLR", "LinearWarmup", "LambdaLR",
]


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, ``step``, ``state_dict``."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: received an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        self.state = {}  # id(param) -> dict of per-parameter buffers
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
        group = dict(group)
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for i, p in enumerate(ps):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(
                    f"{type(self).__name__}: params[{i}] must be a Tensor with requires_grad=True, "
                    f"received {type(p).__name__}"
                )
        seen = {id(p) for grp in self.param_groups for p in grp["params"]}
        if any(id(p) in seen for p in ps):
            raise ValueError(f"{type(self).__name__}: a parameter appears in two parameter groups")
        group["params"] = ps
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check_hyper(group)
        self.param_groups.append(group)

    #: the range of each hyper-parameter: keyword arguments of :func:`~scratchgen.validate.check_number`
    #: ("bool": True or False; "pair": two numbers, each in the range that follows)
    HYPER = {"lr": dict(min=0)}

    def _check_hyper(self, group):
        """Check every hyper-parameter of ``group`` (the constructor's and a group's own) before any step."""
        who = type(self).__name__
        for name, rule in self.HYPER.items():
            value = group.get(name)
            if rule == "bool":
                check_bool(value, name, who)
            elif "pair" in rule:
                check_pair(value, name, who, **{k: v for k, v in rule.items() if k != "pair"})
            else:
                check_number(value, name, who, **rule)

    def zero_grad(self):
        """Forget the gradients (``p.grad = None``), as ``set_to_none=True`` in PyTorch."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self):
        """Apply one update to every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data if isinstance(p.grad, Tensor) else p.grad
                st = self.state.get(id(p))
                if st is None:
                    st = self.state[id(p)] = {}
                self._update(p.data, g, st, group)

    def _update(self, theta, g, state, group):
        raise NotImplementedError

    # --- saving and resuming --------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {name: array or number}}, "param_groups": [...]}`` with parameters
        replaced by their index in the order of the groups (as in PyTorch)."""
        index, groups = 0, []
        state = {}
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                if id(p) in self.state:
                    state[index] = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in self.state[id(p)].items()}
                ids.append(index)
                index += 1
            g["params"] = ids
            groups.append(g)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore settings and buffers saved by :meth:`state_dict`; checks group sizes and shapes."""
        who = f"{type(self).__name__}.load_state_dict"
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{who}: expected {len(self.param_groups)} parameter groups, received {len(groups)}")
        params = []
        for i, (mine, theirs) in enumerate(zip(self.param_groups, groups)):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(
                    f"{who}: group {i} has {len(mine['params'])} parameters, the state dict has {len(theirs['params'])}"
                )
            params.extend(mine["params"])
        new_state = {}
        for key, st in state_dict["state"].items():
            k = int(key)
            if not 0 <= k < len(params):
                raise ValueError(f"{who}: state for parameter index {k}, but there are {len(params)} parameters")
            p = params[k]
            entry = {}
            for name, v in st.items():
                # a buffer has the parameter's shape: any array of ndim > 0, or a float 0-d array for a 0-d
                # parameter (an Adam moment of a scalar); other 0-d arrays are counters (Adam's step)
                if hasattr(v, "shape") and (v.ndim > 0 or (p.ndim == 0 and v.dtype.kind == "f")):
                    if tuple(v.shape) != tuple(p.shape):
                        raise ValueError(
                            f"{who}: state[{k}][{name!r}] has shape {tuple(v.shape)}, expected {tuple(p.shape)} "
                            "(the parameter's shape)"
                        )
                    entry[name] = asarray(v, xp=get_xp(p.data)).astype(p.dtype, copy=True)  # the parameter's backend
                elif hasattr(v, "shape"):  # 0-d array: a number
                    entry[name] = v.item()
                else:
                    entry[name] = v
            new_state[id(p)] = entry
        for mine, theirs in zip(self.param_groups, groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = copy.deepcopy(v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v)
        self.state = new_state


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

    .. math::
       g_t &\leftarrow g_t + \lambda\,\theta_{t-1} \\
       b_t &= \mu\, b_{t-1} + (1-\tau)\, g_t \quad (b_1 = g_t) \\
       \theta_t &= \theta_{t-1} - \eta\,\big(g_t + \mu\, b_t\big) \ \text{(Nesterov)} \quad\text{or}\quad
       \theta_{t-1} - \eta\, b_t

    with momentum :math:`\mu`, dampening :math:`\tau`, weight decay :math:`\lambda`
    (plain SGD when :math:`\mu = 0`), as ``torch.optim.SGD``.
    """

    HYPER = {"lr": dict(min=0), "momentum": dict(min=0, max=1, max_open=True), "dampening": dict(min=0, max=1),
             "weight_decay": dict(min=0), "nesterov": "bool"}

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        check_number(momentum, "momentum", "SGD", min=0, max=1, max_open=True)
        check_number(dampening, "dampening", "SGD", min=0, max=1)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, theta, g, state, group):
        lr, mu, tau, lam = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        if lam:
            g = g + lam * theta
        if mu:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = g.copy()  # b_1 = g_1
            else:
                b *= mu
                b += (1 - tau) * g
            g = g + mu * b if group["nesterov"] else b
        theta -= lr * g


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015, Algorithm 1) with optional L2 weight decay.

    .. math::
       g_t &\leftarrow g_t + \lambda\,\theta_{t-1} \\
       m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
       v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
       \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t) \\
       \theta_t &= \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    computed as :math:`\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\, m_t \big/
    \big(\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon\big)`, the same number in fewer
    array passes (as ``torch.optim.Adam``).
    """

    decoupled = False
    HYPER = {"lr": dict(min=0), "betas": dict(pair=True, min=0, max=1, max_open=True), "eps": dict(min=0),
             "weight_decay": dict(min=0)}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        b1, b2 = check_pair(betas, "betas", type(self).__name__, min=0, max=1, max_open=True,
                            fix="betas=(beta1, beta2), e.g. (0.9, 0.999)")
        super().__init__(params, dict(lr=lr, betas=(float(b1), float(b2)), eps=eps, weight_decay=weight_decay))

    def _update(self, theta, g, state, group):
        xp = get_xp(theta)
        lr, (b1, b2), eps, lam = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(theta)  # m
            state["exp_avg_sq"] = xp.zeros_like(theta)  # v
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if lam:
            if self.decoupled:
                theta *= 1 - lr * lam  # AdamW: theta <- theta - eta lambda theta
            else:
                g = g + lam * theta
        m *= b1
        m += (1 - b1) * g  # m_t = b1 m + (1 - b1) g
        v *= b2
        v += (1 - b2) * (g * g)  # v_t = b2 v + (1 - b2) g^2
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        denom = xp.sqrt(v)
        denom *= 1 / math.sqrt(bc2)
        denom += eps  # sqrt(v_hat) + eps
        step = m / denom
        step *= lr / bc1
        theta -= step


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter 2019): Adam with *decoupled* weight decay.

    .. math::  \theta_t = (1 - \eta\lambda)\,\theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    with :math:`\hat m_t, \hat v_t` as in :class:`Adam` (no :math:`\lambda\theta` added to :math:`g_t`).
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop(Optimizer):
    r"""RMSprop (Tieleman & Hinton 2012), the WGAN paper's optimiser.

    .. math::
       g_t &\leftarrow g_t + \lambda\,\theta_{t-1} \\
       v_t &= \alpha\, v_{t-1} + (1-\alpha)\, g_t^2 \\
       \tilde v_t &= v_t - \bar g_t^2, \ \ \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t \quad (\text{centered only; else } \tilde v_t = v_t) \\
       b_t &= \mu\, b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon), \qquad \theta_t = \theta_{t-1} - \eta\, b_t

    (with :math:`\mu = 0`: :math:`\theta_t = \theta_{t-1} - \eta\, g_t/(\sqrt{\tilde v_t} + \epsilon)`), as ``torch.optim.RMSprop``.
    """

    HYPER = {"lr": dict(min=0), "alpha": dict(min=0, max=1, max_open=True), "eps": dict(min=0),
             "weight_decay": dict(min=0), "momentum": dict(min=0, max=1, max_open=True), "centered": "bool"}

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _update(self, theta, g, state, group):
        xp = get_xp(theta)
        lr, alpha, eps, lam, mu = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(theta)
            if mu:
                state["momentum_buffer"] = xp.zeros_like(theta)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(theta)
        state["step"] += 1
        if lam:
            g = g + lam * theta
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * (g * g)
        if group["centered"]:
            gbar = state["grad_avg"]
            gbar *= alpha
            gbar += (1 - alpha) * g
            denom = xp.sqrt(v - gbar * gbar)
        else:
            denom = xp.sqrt(v)
        denom += eps
        if mu:
            b = state["momentum_buffer"]
            b *= mu
            b += g / denom
            theta -= lr * b
        else:
            theta -= lr * (g / denom)


# ---------------------------------------------------------------------------
# Clipping
# ---------------------------------------------------------------------------
def _params_list(params):
    return [params] if isinstance(params, Tensor) else list(params)


def clip_grad_norm_(params, max_norm, norm_type=2.0, eps=1e-6):
    r"""Scale all gradients together so that their joint norm is at most ``max_norm``.

    .. math::  \|g\| = \Big(\sum_p \|g_p\|_q^q\Big)^{1/q}, \qquad
               g \leftarrow g \cdot \min\!\Big(1, \frac{c}{\|g\| + \epsilon}\Big)

    Returns the norm before clipping (a float). ``norm_type=inf`` uses the max.
    """
    check_number(max_norm, "max_norm", "clip_grad_norm_", min=0, min_open=True)
    check_number(norm_type, "norm_type", "clip_grad_norm_", min=0, min_open=True, finite=False)
    check_number(eps, "eps", "clip_grad_norm_", min=0)
    grads = [p.grad.data for p in _params_list(params) if p.grad is not None]
    if not grads:
        return 0.0
    xp = get_xp(grads[0])
    if norm_type == math.inf:
        total = max(float(xp.max(xp.abs(g))) for g in grads)
    else:
        q = float(norm_type)
        total = sum(float(xp.sum(xp.abs(g) ** q)) for g in grads) ** (1.0 / q)
    coef = max_norm / (total + eps)
    if coef < 1:
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(params, clip_value):
    """Clamp each gradient entry to ``[-clip_value, clip_value]`` in place."""
    check_number(clip_value, "clip_value", "clip_grad_value_", min=0, min_open=True)
    for p in _params_list(params):
        if p.grad is not None:
            xp = get_xp(p.grad.data)
            xp.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)


# ---------------------------------------------------------------------------
# Learning-rate schedules: closed forms of the step count, so resuming is exact
# ---------------------------------------------------------------------------
class LRScheduler:
    r"""Sets each group's ``lr`` to :math:`\eta_t = f(t)\,` from its initial value :math:`\eta_0`.

    Call ``step()`` once per epoch (or iteration) after ``optimizer.step()``.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def lr_at(self, base_lr, t):
        raise NotImplementedError

    def _apply(self):
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)

    def step(self):
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state):
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = [float(b) for b in state["base_lrs"]]
        self._apply()


class StepLR(LRScheduler):
    r""":math:`\eta_t = \eta_0\, \gamma^{\lfloor t / s \rfloor}`."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        check_int(step_size, "step_size", "StepLR", min=1)
        check_number(gamma, "gamma", "StepLR", min=0, min_open=True)
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    r"""Loshchilov & Hutter (2017), eq. (5) without restarts:
    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi\, t / T))`, held at
    :math:`\eta_{min}` for :math:`t \ge T`."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        check_int(T_max, "T_max", "CosineAnnealingLR", min=1)
        check_number(eta_min, "eta_min", "CosineAnnealingLR", min=0)
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        t = min(t, self.T_max)
        return self.eta_min + 0.5 * (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max))


class LinearWarmup(LRScheduler):
    r"""Linear warm-up (Goyal et al. 2017), optionally followed by cosine decay:

    .. math::
       \eta_t = \eta_0 \min\!\big(1, (t+1)/W\big) \quad (t < W \text{ or no } T), \qquad
       \eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})\big(1 + \cos(\pi \tfrac{t - W}{T - W})\big)
       \quad (W \le t \le T)

    with ``warmup_steps`` :math:`W` and ``total_steps`` :math:`T` (held at :math:`\eta_{min}` after T).
    """

    def __init__(self, optimizer, warmup_steps, total_steps=None, eta_min=0.0):
        check_int(warmup_steps, "warmup_steps", "LinearWarmup", min=1)
        if total_steps is not None:
            check_int(total_steps, "total_steps", "LinearWarmup", min=1)
        check_number(eta_min, "eta_min", "LinearWarmup", min=0)
        if total_steps is not None and int(total_steps) <= int(warmup_steps):
            raise ValueError(
                f"LinearWarmup: total_steps must exceed warmup_steps {warmup_steps}, received {total_steps}"
            )
        self.warmup_steps = int(warmup_steps)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        W, T = self.warmup_steps, self.total_steps
        if T is None or t < W:
            return base_lr * min(1.0, (t + 1) / W)
        t = min(t, T)
        return self.eta_min + 0.5 * (base_lr - self.eta_min) * (1 + math.cos(math.pi * (t - W) / (T - W)))


class LambdaLR(LRScheduler):
    r""":math:`\eta_t = \eta_0\, f(t)` for a user function ``f``."""

    def __init__(self, optimizer, lr_lambda):
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def lr_at(self, base_lr, t):
        return base_lr * self.lr_lambda(t)
