"""measure, gradient and hvp against an independent numpy implementation of the network, its
loss, its gradient (by hand) and its Hessian (finite differences of that gradient)."""

import numpy as np
import pytest

import shatter


def net_and_data(k=4, d=3, n=25, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, d))
    b = rng.normal(size=k) * 0.5
    v = rng.normal(size=k)
    beta = 0.3
    X = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    return W, b, v, beta, X, y


def np_loss(W, b, v, beta, X, y):
    f = np.maximum(X @ W.T + b, 0.0) @ v + beta
    return 0.5 * np.mean((f - y) ** 2)


def np_grad(W, b, v, beta, X, y):
    z = X @ W.T + b
    a = np.maximum(z, 0.0)
    r = (a @ v + beta - y) / len(y)
    mask = (z > 0).astype(float)
    gz = (r[:, None] * mask) * v[None, :]
    return gz.T @ X, gz.sum(axis=0), a.T @ r, r.sum()


def flat(W, b, v, beta):
    return np.concatenate([W.ravel(), b, v, [beta]])


def unflat(theta, k, d):
    W = theta[: k * d].reshape(k, d)
    return W, theta[k * d : k * d + k], theta[k * d + k : k * d + 2 * k], theta[-1]


def np_hessian(W, b, v, beta, X, y, h=1e-6):
    """Central differences of the exact gradient (ReLU is piecewise linear, so away from kinks
    this is exact up to rounding)."""
    k, d = W.shape
    theta = flat(W, b, v, beta)
    H = np.zeros((len(theta), len(theta)))
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = h
        gp = flat(*np_grad(*unflat(theta + e, k, d), X, y))
        gm = flat(*np_grad(*unflat(theta - e, k, d), X, y))
        H[:, i] = (gp - gm) / (2 * h)
    return 0.5 * (H + H.T)


def test_gradient_matches_numpy_and_finite_differences():
    W, b, v, beta, X, y = net_and_data()
    loss, (gW, gb, gv, gbeta) = shatter.gradient((W, b, v, beta), X, y)
    assert loss == pytest.approx(np_loss(W, b, v, beta, X, y), rel=1e-14)
    eW, eb, ev, ebeta = np_grad(W, b, v, beta, X, y)
    np.testing.assert_allclose(gW, eW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gb, eb, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gv, ev, rtol=1e-12, atol=1e-14)
    assert gbeta == pytest.approx(ebeta, rel=1e-12, abs=1e-14)
    # Finite differences of the loss itself, coordinate by coordinate.
    k, d = W.shape
    theta = flat(W, b, v, beta)
    g = flat(gW, gb, gv, gbeta)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = 1e-6
        fd = (np_loss(*unflat(theta + e, k, d), X, y) - np_loss(*unflat(theta - e, k, d), X, y)) / 2e-6
        assert g[i] == pytest.approx(fd, abs=1e-7)


def test_hvp_matches_dense_hessian():
    W, b, v, beta, X, y = net_and_data(seed=1)
    H = np_hessian(W, b, v, beta, X, y)
    k, d = W.shape
    rng = np.random.default_rng(7)
    u = rng.normal(size=H.shape[0])
    hW, hb, hv, hbeta = shatter.hvp((W, b, v, beta), X, y, unflat(u, k, d))
    np.testing.assert_allclose(flat(hW, hb, hv, hbeta), H @ u, rtol=1e-6, atol=1e-7)


def test_measure_sharpness_is_top_eigenvalue_of_dense_hessian():
    W, b, v, beta, X, y = net_and_data(seed=2)
    H = np_hessian(W, b, v, beta, X, y)
    eig = np.linalg.eigvalsh(H)[::-1]
    m = shatter.measure(W, b, v, beta, X, y, top_k=3, tol=1e-10)
    assert abs(m.sharpness - eig[0]) <= max(m.sharpness_err, 1e-6 * eig[0]) + 1e-6
    np.testing.assert_allclose(m.eigenvalues, eig[:3], rtol=1e-6, atol=1e-7)
    assert m.min_eigenvalue == pytest.approx(eig[-1], abs=1e-6)
    assert m.train_loss == pytest.approx(np_loss(W, b, v, beta, X, y), rel=1e-14)
    assert m.sharpness_err >= 0.0


def test_measure_norms_and_neurons():
    W, b, v, beta, X, y = net_and_data(k=6, seed=3)
    m = shatter.measure(W, b, v, beta, X, y)
    norms = np.linalg.norm(W, axis=1)
    assert m.path_norm == pytest.approx(np.sum(np.abs(v) * norms), rel=1e-13)
    np.testing.assert_allclose(m.amplitude, np.abs(v) * norms, rtol=1e-13)
    rates = np.mean(X @ W.T + b > 0, axis=0)
    np.testing.assert_array_equal(m.activation_rate, rates)
    np.testing.assert_array_equal(m.dead, rates == 0)
    radius = np.max(np.linalg.norm(X, axis=1))
    bound = 0.5 * (m.sharpness - 1.0) + (radius + 1.0) * np.sqrt(2 * m.train_loss)
    assert m.vg_bound == pytest.approx(bound, rel=1e-12)
    assert m.bound_holds == (m.vg_norm <= m.vg_bound)
    pd = pytest.importorskip("pandas")
    assert isinstance(m.neurons, pd.DataFrame)
    assert list(m.neurons["neuron"]) == list(range(6))


def test_float32_dlpack_and_no_bias_inputs():
    W, b, v, beta, X, y = net_and_data(seed=4)
    m64 = shatter.measure(W, b, v, beta, X, y)

    class DLPackOnly:
        """An array-like that only speaks DLPack (as a torch tensor or a jax array)."""

        def __init__(self, a):
            self.a = a

        def __dlpack__(self, **kwargs):
            return self.a.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    m_dl = shatter.measure(DLPackOnly(W), DLPackOnly(b), DLPackOnly(v), beta, DLPackOnly(X), DLPackOnly(y))
    assert m_dl.sharpness == m64.sharpness
    W32 = W.astype(np.float32)
    m32 = shatter.measure(W32, b.astype(np.float32), v.astype(np.float32), np.float32(beta), X.astype(np.float32), y.astype(np.float32))
    expected = shatter.measure(W32.astype(np.float64), b.astype(np.float32).astype(np.float64), v.astype(np.float32).astype(np.float64), float(np.float32(beta)), X.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64))
    assert m32.sharpness == expected.sharpness
    # Without biases the Hessian is over (W, v, beta) only.
    W, _, v, beta, X, y = net_and_data(seed=5)
    H = np_hessian(W, np.zeros(W.shape[0]), v, beta, X, y)
    k, d = W.shape
    keep = [i for i in range(H.shape[0]) if not (k * d <= i < k * d + k)]
    top = np.linalg.eigvalsh(H[np.ix_(keep, keep)])[-1]
    assert shatter.measure(W, None, v, beta, X, y, tol=1e-10).sharpness == pytest.approx(top, rel=1e-6)


def test_bad_inputs_raise_value_error():
    W, b, v, beta, X, y = net_and_data()
    with pytest.raises(ValueError, match="X has 2 columns but W has 3"):
        shatter.measure(W, b, v, beta, X[:, :2], y)
    with pytest.raises(ValueError, match="y has 24 entries"):
        shatter.measure(W, b, v, beta, X, y[:-1])
    with pytest.raises(ValueError, match="loss \"hinge\""):
        shatter.measure(W, b, v, beta, X, y, loss="hinge")
    with pytest.raises(ValueError, match="tol"):
        shatter.measure(W, b, v, beta, X, y, tol=2.0)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        shatter.measure(W, b, v, beta, bad, y)
