# %% [setup] UCLA's (ECE C147/C247) imports: nndl for the layers and the network, utils for
# the tools.
import numpy as np

from nndl.fc_net import *
from nndl.layers import *
from nndl.layer_utils import affine_relu_forward, affine_relu_backward
from utils.data_utils import get_CIFAR10_data
from utils.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from utils.solver import Solver


# %% [batchnorm] batchnorm_forward from the star imports, train and test time.
np.random.seed(231)
N, D1, D2, D3 = 200, 50, 60, 3
X = np.random.randn(N, D1)
W1 = np.random.randn(D1, D2)
W2 = np.random.randn(D2, D3)
a = np.maximum(0, X.dot(W1)).dot(W2)
a_norm, _ = batchnorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})
assert np.allclose(a_norm.mean(axis=0), 0) and np.allclose(a_norm.std(axis=0), 1, atol=1e-4)

# %% [fc-batchnorm] FullyConnectedNet(..., use_batchnorm=True): CS231n's published losses
# (the same draws after np.random.seed(231)) and gradients that check numerically.
np.random.seed(231)
N, D, H1, H2, C = 2, 15, 20, 30, 10
X = np.random.randn(N, D)
y = np.random.randint(C, size=(N,))
losses = []
for reg in [0, 3.14]:
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                              dtype=np.float64, use_batchnorm=True)
    loss, grads = model.loss(X, y)
    losses.append(loss)
    print("reg", reg, "initial loss:", loss)
    assert sorted(grads) == sorted(model.params) and "gamma1" in grads
    for name in sorted(grads):
        f = lambda _: model.loss(X, y)[0]
        grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)
        assert rel_error(grad_num, grads[name]) < 1e-3, name
assert abs(losses[0] - 2.2611955101340957) < 1e-12 and abs(losses[1] - 6.996533220108303) < 1e-12

# %% [dropout] UCLA's dropout: p is the probability of DROPPING a unit.
np.random.seed(231)
x = np.random.randn(500, 500) + 10
for p in [0.3, 0.6, 0.75]:
    state = np.random.get_state()
    out, _ = dropout_forward(x, {"mode": "train", "p": p})
    out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
    np.random.set_state(state)
    kept = np.random.rand(*x.shape) < 1 - p  # the same draw, by hand
    print("p =", p, "fraction set to zero:", (out == 0).mean())
    assert ((out != 0) == kept).all() and np.allclose(out[kept], x[kept] / (1 - p))
    assert (out_test == x).all()

# With a seed, every call drops the same units: dx is dout / (1 - p) where a unit was kept.
x = np.random.randn(10, 10) + 10
dout = np.random.randn(*x.shape)
dropout_param = {"mode": "train", "p": 0.8, "seed": 123}
dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0], x, dout)
out, cache = dropout_forward(x, dropout_param)
kept = out != 0
dx = dropout_backward(dout, cache)
assert rel_error(dx, dx_num) < 1e-10 and kept.mean() < 0.5
assert np.allclose(dx[kept], dout[kept] / (1 - 0.8)) and (dx[~kept] == 0).all()

# %% [fc-dropout] FullyConnectedNet(..., dropout=...): drop 0.25 is CS231n's keep 0.75, so the
# published losses of CS231n's Dropout notebook come back in the same loop.
check_initial_losses(
    lambda dropout: FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2,
                                      dtype=np.float64, dropout=dropout, seed=123),
    {0: 2.3004790897684924, 0.25: 2.302371489704412, 0.5: 2.30427592207859},
    gradients=eval_numerical_gradient)

# %% [solver] The tools from utils/.
out, cache = affine_relu_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
assert affine_relu_backward(np.ones((2, 4)), cache)[1].shape == (3, 4)
data = get_CIFAR10_data(num_training=300, num_validation=100, num_test=100)
model = FullyConnectedNet([40], weight_scale=2e-2, use_batchnorm=True, dropout=0.5)
solver = Solver(model, data, num_epochs=1, batch_size=100, update_rule="adam",
                optim_config={"learning_rate": 1e-3}, verbose=False)
solver.train()
assert len(solver.loss_history) == 3
