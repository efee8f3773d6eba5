# %% [setup] CS231n's assignment 2 of 2016 and 2017: the same import lines as the later years,
# but `dropout` is the probability of DROPPING a unit and the network takes use_batchnorm=.
import numpy as np

from cs231n.classifiers.fc_net import *
from cs231n.data_utils import get_CIFAR10_data
from cs231n.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from cs231n.solver import Solver
from cs231n.optim import adam


# %% [batchnorm] The layers after the star import: batch norm forward at train and test time,
# its two backward passes against each other and against a numerical gradient.
np.random.seed(231)
N, D1, D2, D3 = 200, 50, 60, 3
W1 = np.random.randn(D1, D2)
W2 = np.random.randn(D2, D3)
bn_param = {"mode": "train"}
gamma, beta = np.ones(D3), np.zeros(D3)
for t in range(50):
    a = np.maximum(0, np.random.randn(N, D1).dot(W1)).dot(W2)
    batchnorm_forward(a, gamma, beta, bn_param)
bn_param["mode"] = "test"
a = np.maximum(0, np.random.randn(N, D1).dot(W1)).dot(W2)
a_norm, _ = batchnorm_forward(a, gamma, beta, bn_param)
print("test-time means", a_norm.mean(axis=0), "stds", a_norm.std(axis=0))
assert np.all(np.abs(a_norm.mean(axis=0)) < 0.3) and np.all(np.abs(a_norm.std(axis=0) - 1) < 0.3)

x = 5 * np.random.randn(4, 5) + 12
g, b, dout = np.random.randn(5), np.random.randn(5), np.random.randn(4, 5)
dx_num = eval_numerical_gradient_array(
    lambda x: batchnorm_forward(x, g, b, {"mode": "train"})[0], x, dout)
_, cache = batchnorm_forward(x, g, b, {"mode": "train"})
dx, dgamma, dbeta = batchnorm_backward(dout, cache)
dx2, dgamma2, dbeta2 = batchnorm_backward_alt(dout, cache)
assert rel_error(dx, dx_num) < 1e-7 and rel_error(dx, dx2) < 1e-10
assert rel_error(dgamma, dgamma2) < 1e-10 and rel_error(dbeta, dbeta2) < 1e-10

# %% [dropout] dropout_forward's p drops: about p of the train-time outputs are zero.
np.random.seed(231)
x = np.random.randn(500, 500) + 10
for p in [0.3, 0.6, 0.75]:
    out, _ = dropout_forward(x, {"mode": "train", "p": p})
    out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
    print("p =", p, "fraction of train-time output set to zero:", (out == 0).mean())
    assert abs((out == 0).mean() - p) < 0.01 and abs(out.mean() - x.mean()) < 0.1
    assert (out_test == x).all()

# %% [fc-net] FullyConnectedNet(..., dropout=0, use_batchnorm=False): the networks of 2017's
# notebooks, gradient-checked; dropout 0 is no dropout.
np.random.seed(231)
N, D, H1, H2, C = 2, 15, 20, 30, 10
X = np.random.randn(N, D)
y = np.random.randint(C, size=(N,))
for kwargs in ({"dropout": 0}, {"dropout": 0.25}, {"dropout": 0.5},
               {"use_batchnorm": True, "reg": 3.14}):
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2,
                              dtype=np.float64, seed=123, **kwargs)
    assert model.use_dropout == (kwargs.get("dropout", 0) != 0)
    loss, grads = model.loss(X, y)
    print(kwargs, "initial loss:", loss)
    for name in sorted(grads):
        f = lambda _: model.loss(X, y)[0]
        grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)
        assert rel_error(grad_num, grads[name]) < 1e-4, (kwargs, name)

# %% [solver] The tools are the kit's: Solver with adam (the update rule, also imported).
assert callable(adam)
data = get_CIFAR10_data(num_training=300, num_validation=100, num_test=100)
model = FullyConnectedNet([40], weight_scale=2e-2, use_batchnorm=True, dropout=0.5)
solver = Solver(model, data, num_epochs=1, batch_size=100, update_rule="adam",
                optim_config={"learning_rate": 1e-3}, verbose=False)
solver.train()
assert len(solver.loss_history) == 3 and len(solver.val_acc_history) == 2
