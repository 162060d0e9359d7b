"""The array-backend switch: defaults, errors that say what is missing, mixed backends.

Tests that need a real GPU are marked ``gpu`` and skip where CuPy or a device is absent.
The CuPy code path without a GPU is covered with stand-in modules: the random generator's
draws are moved with the backend's ``asarray``, which a stand-in records.
"""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import backend


@pytest.fixture(autouse=True)
def restore_backend():
    saved = backend._state.name, backend._state.xp
    yield
    backend._state.name, backend._state.xp = saved


def test_numpy_is_the_default():
    assert sg.get_backend() == "numpy"
    assert sg.get_xp() is np
    assert sg.tensor([1.0]).data.__class__ is np.ndarray
    assert sg.default_dtype() == np.float32


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match=r"backend must be one of \('numpy', 'cupy'\), got 'jax'"):
        sg.set_backend("jax")


def test_missing_cupy_says_not_installed_and_how_to_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(sg.BackendError, match=r"CuPy is not installed.*pip install -e '\.\[gpu\]' in the repository"):
        sg.set_backend("cupy")
    assert sg.get_backend() == "numpy"  # unchanged after the failure


def _fake_cupy(device_count=None, error=None):
    def get_device_count():
        if error is not None:
            raise error
        return device_count

    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


def test_cupy_without_gpu_says_no_gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(device_count=0))
    with pytest.raises(sg.BackendError, match=r"CuPy is installed but no CUDA GPU is present"):
        sg.set_backend("cupy")
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(error=RuntimeError("cudaErrorNoDevice")))
    with pytest.raises(sg.BackendError, match=r"no CUDA GPU is usable .*cudaErrorNoDevice"):
        sg.set_backend("cupy")


def test_use_backend_restores_the_previous_one(monkeypatch):
    fake = _fake_cupy(device_count=1)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with sg.use_backend("cupy") as xp:
        assert xp is fake and sg.get_backend() == "cupy"
    assert sg.get_backend() == "numpy" and sg.get_xp() is np


def test_environment_variable_selects_the_backend():
    env = dict(os.environ, SCRATCHGEN_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", "import scratchgen as sg; print(sg.get_backend())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "numpy"
    env["SCRATCHGEN_BACKEND"] = "cupy"
    code = "import sys; sys.modules['cupy'] = None; import scratchgen"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "CuPy is not installed" in out.stderr


class FakeCupyArray:
    """Stands in for a cupy.ndarray: only its module name matters to the backend check."""

    __module__ = "cupy._core.core"
    shape = (2,)
    dtype = np.dtype(np.float32)


def test_mixing_backends_is_a_type_error_naming_both():
    with pytest.raises(TypeError, match=r"two backends mixed: numpy and cupy"):
        sg.get_xp(np.ones(2), FakeCupyArray())
    with pytest.raises(TypeError, match=r"^add: arrays from two backends mixed: numpy and cupy"):
        sg.tensor(np.ones(2)) + FakeCupyArray()
    with pytest.raises(TypeError, match=r"^multiply: arrays from two backends mixed: cupy and numpy"):
        sg.multiply(FakeCupyArray(), sg.tensor(np.ones(2)))


def test_get_xp_and_to_numpy():
    assert sg.get_xp(np.ones(2), 3.0, sg.tensor([1.0])) is np
    assert sg.get_xp(2.0) is np  # no arrays: the active backend
    t = sg.tensor([1.0, 2.0])
    assert isinstance(sg.to_numpy(t), np.ndarray)
    np.testing.assert_array_equal(sg.to_numpy(t), [1.0, 2.0])
    assert sg.to_numpy(3.0) == 3.0


def test_unwrap_takes_a_tensors_array_and_leaves_arrays_alone():
    a = np.arange(3.0)
    assert backend.unwrap(a) is a  # not a.data, the array's buffer (a device pointer on CuPy)
    t = sg.tensor(a)
    assert backend.unwrap(t) is t.data and backend.unwrap([1, 2]) == [1, 2] and backend.unwrap(2.0) == 2.0


def test_rng_is_seeded_on_the_active_backend():
    a = sg.rng(123).standard_normal(4)
    b = sg.rng(123).standard_normal(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sg.rng(124).standard_normal(4))
    g = sg.rng(5)
    assert sg.rng(g) is g  # a generator passes through


def test_default_dtype_can_be_float64():
    try:
        sg.set_default_dtype("float64")
        assert sg.tensor(1.0).dtype == np.float64
        with pytest.raises(ValueError, match="float dtype"):
            sg.set_default_dtype("int32")
    finally:
        sg.set_default_dtype("float32")


def _gpu_available():
    try:
        backend._load_cupy()
        return True
    except sg.BackendError:
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_same_gradients_on_cupy_and_numpy():
    x = np.linspace(-2, 2, 7)
    f = lambda t: (sg.softplus(t) * sg.sin(t)).sum()
    g_np = sg.grad(f)(x).numpy()
    with sg.use_backend("cupy"):
        t = sg.tensor(x)
        assert sg.backend.backend_of(t.data) == "cupy"
        g_cp = sg.grad(f)(t).numpy()
        sg.check_grads(lambda a: sg.tanh(a @ a.T), np.random.default_rng(0).standard_normal((3, 2)), order=2)
    np.testing.assert_allclose(g_cp, g_np, rtol=1e-12)


class FakeDevice:
    """Stands in for CuPy's module as the target of draws: ``asarray`` tags the array it receives."""

    __name__ = "fakecupy"

    def __init__(self):
        self.moved = []

    def asarray(self, a):
        self.moved.append(a)
        return ("on device", a)


class FakeDeviceArray:
    """Stands in for a cupy.ndarray passed as an argument: ``get()`` copies it to the host."""

    __module__ = "cupy._core.core"

    def __init__(self, a):
        self.a = np.asarray(a)

    def get(self):  # a copy, as a device-to-host transfer makes
        return self.a.copy()


def test_rng_draws_numpys_numbers_and_moves_arrays_to_the_backend():
    device = FakeDevice()
    g, ref = backend.HostGenerator(np.random.default_rng(3), device), np.random.default_rng(3)
    where, z = g.standard_normal((2, 3), dtype=np.float32)
    assert where == "on device" and np.array_equal(z, ref.standard_normal((2, 3), dtype=np.float32))
    # the methods CuPy's own Generator lacks (choice, permutation) work, from the same stream
    assert np.array_equal(g.choice(10, 4, replace=False)[1], ref.choice(10, 4, replace=False))
    assert np.array_equal(g.permutation(7)[1], ref.permutation(7))
    # a scalar draw stays a scalar, not a 0-d device array
    k = g.integers(0, 100)
    assert k == ref.integers(0, 100) and len(device.moved) == 3
    # array arguments on the device are copied to the host first
    p = [0.2, 0.3, 0.5]
    assert np.array_equal(g.choice(3, size=6, p=FakeDeviceArray(p))[1], ref.choice(3, size=6, p=p))
    assert np.array_equal(g.choice(FakeDeviceArray(np.arange(5, 10)), 3, replace=False)[1],
                          ref.choice(np.arange(5, 10), 3, replace=False))  # and positional ones
    # writing in place would fill a host copy: refused on every backend
    with pytest.raises(TypeError, match=r"HostGenerator.standard_normal: out= is not supported"):
        g.standard_normal(out=np.zeros(3))
    # rng(seed, xp=...) targets a given array module (check_grads: the module of its inputs)
    assert sg.rng(3, xp=device).xp is device and sg.rng(3).xp is sg.get_xp()


def test_rng_refuses_generators_it_cannot_use_or_store():
    CupyGenerator = type("Generator", (), {"__module__": "cupy.random._generator_api", "standard_normal": None})
    for bad, name in ((np.random.RandomState(0), "numpy.random.mtrand.RandomState"),
                      (CupyGenerator(), "cupy.random._generator_api.Generator")):
        with pytest.raises(TypeError, match=rf"rng: seed must be an int, None, .* got {name}"):
            sg.rng(bad)
    spy = types.SimpleNamespace(standard_normal=lambda *a: 0.0)  # a duck-typed stand-in passes through
    assert sg.rng(spy) is spy


def test_rng_on_the_cupy_backend_targets_cupy(monkeypatch):
    fake = _fake_cupy(device_count=1)
    fake.asarray = lambda a: ("cupy", a)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with sg.use_backend("cupy"):
        g = sg.rng(0)
        where, x = g.random(3)
    assert where == "cupy" and np.array_equal(x, np.random.default_rng(0).random(3))
    assert g.xp is fake  # the backend active when the generator was made


def test_rng_of_a_numpy_generator_shares_its_state():
    ref = np.random.default_rng(9)
    g = sg.rng(ref)
    a = sg.to_numpy(g.standard_normal(3))
    assert not np.array_equal(ref.standard_normal(3), a)  # ref moved on
    assert np.array_equal(a, np.random.default_rng(9).standard_normal(3))
    assert sg.rng(g) is g and g.bit_generator is ref.bit_generator


def test_host_generator_copies_and_refuses_in_place_shuffle():
    import copy

    g = sg.rng(4)
    h = copy.deepcopy(g)  # WeightAverage deep-copies modules that hold generators
    assert np.array_equal(sg.to_numpy(h.standard_normal(4)), sg.to_numpy(g.standard_normal(4)))
    assert h.generator is not g.generator
    with pytest.raises(NotImplementedError, match=r"shuffle.*permutation"):
        g.shuffle(np.arange(3))
    with pytest.raises(TypeError, match=r"generator must be a numpy.random.Generator, got int"):
        backend.HostGenerator(3)


def test_generator_state_survives_a_checkpoint(tmp_path):
    g = sg.rng(11)
    g.standard_normal(5)
    sg.save({"rng": g}, tmp_path / "c.npz")
    after = sg.to_numpy(g.standard_normal(4))
    resumed = sg.rng(sg.load(tmp_path / "c.npz")["rng"])
    assert isinstance(resumed, backend.HostGenerator) and np.array_equal(sg.to_numpy(resumed.standard_normal(4)), after)
    CupyGenerator = type("Generator", (), {"__module__": "cupy.random._generator_api", "bit_generator": None})
    with pytest.raises(TypeError, match=r"save: cannot store a CuPy generator under key 'rng'"):
        sg.save({"rng": CupyGenerator()}, tmp_path / "d.npz")
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_same_draws_and_first_losses_on_cupy_and_numpy():
    from scratchgen.data.digits import digits_split
    from scratchgen.data.toy import ring
    from scratchgen.gan.train import GANConfig, train_gan
    from scratchgen.gan.train_images import ImageGANConfig, train_image_gan

    def runs():  # a 2-D GAN, a conditional DCGAN (labels into G and D) and an SS-GAN with augmentation: one step each
        return (train_gan(GANConfig(data="ring8", steps=1, eval_every=1, n_eval=64, progress=False)),
                *(train_image_gan(ImageGANConfig(model=m, steps=1, eval_every=1, n_eval=20, kid_subsets=2,
                                                 progress=False, **extra))
                  for m, extra in (("cgan", {}), ("ssgan", {"augment": True}))))

    numpy_draws = sg.rng(0).standard_normal(5), ring(64, seed=1).x, digits_split().y_test
    numpy_runs = runs()
    with sg.use_backend("cupy"):
        cupy_draws = sg.rng(0).standard_normal(5), ring(64, seed=1).x, digits_split().y_test
        cupy_runs = runs()
    for a, b in zip(numpy_draws, cupy_draws):
        assert backend.backend_of(b) == "cupy" and np.array_equal(a, sg.to_numpy(b))
    for numpy_run, cupy_run in zip(numpy_runs, cupy_runs):
        for key in ("loss_d", "loss_g"):  # one step from the same weights and draws: float32 rounding only
            a, b = numpy_run.history[key][0], cupy_run.history[key][0]
            assert abs(a - b) < 1e-4 * max(1.0, abs(a)), (type(numpy_run).__name__, key, a, b)
