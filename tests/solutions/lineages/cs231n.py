# %% [setup] CS231n's assignment 2 imports: one star import brings the network AND the layers.
import numpy as np

from cs231n.classifiers.fc_net import *
from cs231n.data_utils import get_CIFAR10_data
from cs231n.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from cs231n.solver import Solver


# %% [layers] The layers, called directly after the star import (no import of cs231n.layers).
np.random.seed(231)
N, D = 4, 5
x = 5 * np.random.randn(N, D) + 12
gamma = np.random.randn(D)
beta = np.random.randn(D)
dout = np.random.randn(N, D)

bn_param = {"mode": "train"}
fx = lambda x: batchnorm_forward(x, gamma, beta, bn_param)[0]
fg = lambda a: batchnorm_forward(x, a, beta, bn_param)[0]
dx_num = eval_numerical_gradient_array(fx, x, dout)
dgamma_num = eval_numerical_gradient_array(fg, gamma.copy(), dout)
_, cache = batchnorm_forward(x, gamma, beta, bn_param)
dx, dgamma, dbeta = batchnorm_backward(dout, cache)
dx_alt, dgamma_alt, dbeta_alt = batchnorm_backward_alt(dout, cache)
print("dx error:", rel_error(dx_num, dx), "dgamma error:", rel_error(dgamma_num, dgamma))
assert rel_error(dx_num, dx) < 1e-7 and rel_error(dgamma_num, dgamma) < 1e-7
assert rel_error(dx, dx_alt) < 1e-10 and np.allclose(dbeta, dout.sum(axis=0))

ln_param = {}
fx = lambda x: layernorm_forward(x, gamma, beta, ln_param)[0]
dx_num = eval_numerical_gradient_array(fx, x, dout)
_, cache = layernorm_forward(x, gamma, beta, ln_param)
dx, dgamma, dbeta = layernorm_backward(dout, cache)
print("layer norm dx error:", rel_error(dx_num, dx))
assert rel_error(dx_num, dx) < 1e-7

out, cache = affine_relu_forward(x, np.random.randn(D, 3), np.zeros(3))
assert affine_relu_backward(np.ones_like(out), cache)[0].shape == x.shape

# %% [dropout-forward] Dropout without a seed follows np.random (the published numbers).
np.random.seed(231)
x = np.random.randn(500, 500) + 10
published = {0.25: 10.014059116977283, 0.4: 9.977917658761159, 0.7: 9.987811912159426}
for p, mean in published.items():
    out, _ = dropout_forward(x, {"mode": "train", "p": p})
    out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
    print("p =", p, "train mean", out.mean(), "zeros", (out == 0).mean())
    assert abs(out.mean() - mean) < 1e-11 and (out_test == x).all()

# %% [dropout-backward] With a seed: the same mask on every call.
np.random.seed(231)
x = np.random.randn(10, 10) + 10
dout = np.random.randn(*x.shape)
dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
out, cache = dropout_forward(x, dropout_param)
dx = dropout_backward(dout, cache)
dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0], x, dout)
print("dx relative error:", rel_error(dx, dx_num))
assert rel_error(dx, dx_num) < 1e-10

# %% [dropout-net] The published initial losses of the nets with dropout (seed 123), keep
# probability dropout_keep_ratio=, and gradients that check numerically.
check_initial_losses(
    lambda keep: FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2,
                                   dtype=np.float64, dropout_keep_ratio=keep, seed=123),
    {1: 2.3004790897684924, 0.75: 2.302371489704412, 0.5: 2.30427592207859},
    gradients=eval_numerical_gradient)

# %% [dropout-net-2019] 2018 and 2019 name the keep probability dropout= (1: none), same loop.
check_initial_losses(
    lambda dropout: FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2,
                                      dtype=np.float64, dropout=dropout, seed=123),
    {1: 2.3004790897684924, 0.75: 2.302371489704412, 0.5: 2.3042759220785896})

# %% [solver] Data and Solver, as the notebooks train (a small split of the data here).
data = get_CIFAR10_data(num_training=500, num_validation=100, num_test=100)
model = FullyConnectedNet([50], normalization="batchnorm", weight_scale=2e-2)
solver = Solver(model, data, num_epochs=1, batch_size=100, update_rule="adam",
                optim_config={"learning_rate": 1e-3}, verbose=False)
solver.train()
assert len(solver.loss_history) == 5 and len(solver.val_acc_history) == 2
for dropout in [1, 0.25]:  # 2019's regularization experiment
    solver = Solver(FullyConnectedNet([60], dropout=dropout), data, num_epochs=1, batch_size=100,
                    update_rule="adam", optim_config={"learning_rate": 5e-4}, verbose=False)
    solver.train()
    assert solver.model.use_dropout == (dropout != 1) and len(solver.train_acc_history) == 2
