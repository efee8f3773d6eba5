# %% [setup] IFT780's (Université de Sherbrooke) imports: one module per class.
import numpy as np

from utils.data_utils import load_CIFAR10
from utils.gradients import evaluate_numerical_gradient
from model.Model import Model
from layers.BatchNorm import BatchNorm
from layers.Dense import Dense
from utils.model_loss import cross_entropy_loss
from model.Solver import epoch_solver, Adam

# %% [data] load_CIFAR10 returns five values; the notebook flattens and centres the images.
cifar10_dir = "datasets/cifar-10-batches-py"
X_train, y_train, X_test, y_test, label_names = load_CIFAR10(cifar10_dir)
assert len(label_names) == 10 and X_train.shape[1:] == (32, 32, 3)
X_val, y_val = X_train[400:500], y_train[400:500]
X_train, y_train = X_train[:400], y_train[:400]
X_train = np.reshape(X_train, (X_train.shape[0], -1)).astype(np.float64)
X_val = np.reshape(X_val, (X_val.shape[0], -1)).astype(np.float64)
X_train -= np.mean(X_train, axis=0)
X_val -= np.mean(X_val, axis=0)


# %% [toy-forward] A model of one BatchNorm layer, gamma at one (weight_scale=None).
def create_toy_model(weight_scale):
    np.random.seed(0)
    model = Model()
    model.add(BatchNorm(3, weight_scale=weight_scale))
    model.add_loss(cross_entropy_loss)
    return model


np.random.seed(1)
data = np.maximum(0, np.random.randn(200, 50).dot(np.random.randn(50, 60)))
data = data.dot(np.random.randn(60, 3))
data_norm = create_toy_model(None).forward(data)
assert np.allclose(data_norm.mean(axis=0), 0) and np.allclose(data_norm.std(axis=0), 1, atol=1e-6)

# %% [toy-backward] gamma = 1e-4 * randn(3) after np.random.seed(0); dX of the whole model
# against the course's printed reference, and against the same computation written out in NumPy.
model = create_toy_model(1e-4)
np.random.seed(30)
X = 5 * np.random.randn(5, 3) + 12
y = np.array([1, 0, 2, 1, 0])
correct_out = [[1.85344593e-06, -5.74238814e-07, 1.17228483e-06],
               [1.11060921e-06, 2.05814890e-07, 1.03496010e-06],
               [-4.81622969e-07, 1.04901527e-06, -4.18244822e-06],
               [2.64791282e-06, -5.49104141e-07, 1.05625858e-06],
               [-5.13034500e-06, -1.31487208e-07, 9.18944701e-07]]
scores = model.forward(X)
loss, dScores, _ = model.calculate_loss(scores, y, 0.1)
dX = model.backward(dScores)
print("difference:", rel_error(dX, correct_out))
assert rel_error(dX, correct_out) < 1e-8

np.random.seed(0)
g = 1e-4 * np.random.randn(3)                            # gamma; beta = 0
mu, var = X.mean(axis=0), X.var(axis=0)
x_hat = (X - mu) / np.sqrt(var + 1e-5)
s = g * x_hat
p = np.exp(s - s.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
ds = (p - np.eye(3)[y]) / 5                               # softmax cross-entropy, mean over 5
dx_hat = ds * g
dX_by_hand = (5 * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
dX_by_hand /= 5 * np.sqrt(var + 1e-5)
assert rel_error(dX, dX_by_hand) < 1e-9 and rel_error(dX_by_hand, correct_out) < 1e-8
assert abs(loss - (-np.log(p[np.arange(5), y]).mean())) < 1e-12  # no W: reg adds nothing
assert np.allclose(model.calculate_loss(scores, y, 0.1)[2], p)  # the third: softmax output

# %% [toy-test-mode] The running averages after 50 training passes, then a test-mode forward.
model = create_toy_model(None)
N, D1, D2, D3 = 200, 50, 60, 3
W1 = np.random.randn(D1, D2)
W2 = np.random.randn(D2, D3)
for i in range(50):
    X = np.random.randn(N, D1)
    Z = np.maximum(0, X.dot(W1)).dot(W2)
    model.forward(Z)
X = np.random.randn(N, D1)
Z = np.maximum(0, X.dot(W1)).dot(W2)
A_norm = model.forward(Z, mode="test")
print("means", A_norm.mean(axis=0), "stds", A_norm.std(axis=0))
assert np.allclose(A_norm.mean(axis=0), [-0.0997174, -0.02081184, -0.05757337], atol=1e-8)
assert np.allclose(A_norm.std(axis=0), [1.00571489, 1.06003059, 1.06759498], atol=1e-8)


# %% [networks] The deep nets with and without batch norm, trained by epoch_solver.
def create_model(weight_scale, normalized):
    model = Model()
    hidden_size, classes = 50, 10
    model.add(Dense(dim_output=hidden_size, weight_scale=weight_scale,
                    activation=None if normalized else "relu"), "dense1")
    if normalized:
        model.add(BatchNorm(hidden_size, activation="relu"), "batch_norm1")
    model.add(Dense(dim_input=hidden_size, dim_output=hidden_size, weight_scale=weight_scale,
                    activation="relu"), "dense2")
    model.add(Dense(dim_input=hidden_size, dim_output=classes, weight_scale=weight_scale),
              "dense3")
    model.add_loss(cross_entropy_loss)
    return Adam(1e-3, model)


histories = []
for normalized in (False, True):
    optimizer = create_model(1e-2, normalized)
    loss_history, train_accuracy_history, val_accuracy_history = epoch_solver(
        X_train, y_train, X_val, y_val, 0.0, optimizer, epochs=3, batch_size=50,
        verbose=False)
    histories.append(loss_history)
    assert len(loss_history) == 3 * 8 and len(val_accuracy_history) == 3
    assert all(0 <= a <= 1 for a in train_accuracy_history + val_accuracy_history)
    assert optimizer.model.layers["dense1"].params["W"].shape == (3072, 50)
assert all(np.isfinite(h).all() for h in histories)

# %% [gradients] evaluate_numerical_gradient against the model's own backward pass.
np.random.seed(3)
model = create_model(0.5, normalized=True).model
Xs, ys = X_train[:6, :20] / 50, y_train[:6]
model.layers["dense1"] = Dense(20, 50, weight_scale=0.5)
scores = model.forward(Xs)
loss, dScores, _ = model.calculate_loss(scores, ys, 0.1)
model.backward(dScores)
for layer, param in (("dense1", "W"), ("batch_norm1", "gamma"), ("dense3", "b")):
    numeric = evaluate_numerical_gradient(Xs, ys, model, layer, param, reg=0.1)
    analytic = model.layers[layer].grads[param]
    print(layer, param, "relative error:", rel_error(numeric, analytic))
    assert rel_error(numeric, analytic) < 1e-5
