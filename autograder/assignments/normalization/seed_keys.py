"""The frozen seed keys of the normalization checks: check id -> the text its fresh random inputs
are seeded from.

Until check ids existed, a check's fresh inputs were seeded from its display name; these are
those names, frozen. Never change an entry: that would give every student other inputs (and so
maybe other points) for that check. A check added later needs no entry: its seed key is its id.
A check's title may now change (a typo, a translation) without changing its inputs.
"""

SEED_KEYS: dict[str, str] = {
    "batchnorm_forward.train_stats": "batchnorm_forward: train-mode mean/std",
    "batchnorm_forward.reference_hidden": "batchnorm_forward: matches reference (hidden inputs)",
    "batchnorm_forward.reference_fresh":
        "batchnorm_forward: matches reference (fresh random inputs)",
    "batchnorm_forward.running_averages": "batchnorm_forward: running averages written back",
    "batchnorm_forward.test_mode": "batchnorm_forward: test mode uses and keeps running averages",
    "batchnorm_forward.float32": "batchnorm_forward: float32 preserved",
    "batchnorm_backward.numerical": "batchnorm_backward: dx/dgamma/dbeta vs numerical gradients",
    "batchnorm_backward.reference_hidden": "batchnorm_backward: matches reference (hidden inputs)",
    "batchnorm_backward.reference_fresh":
        "batchnorm_backward: matches reference (fresh random inputs)",
    "batchnorm_backward_alt.numerical":
        "batchnorm_backward_alt: dx/dgamma/dbeta vs numerical gradients",
    "batchnorm_backward_alt.reference_hidden":
        "batchnorm_backward_alt: matches reference (hidden inputs)",
    "batchnorm_backward_alt.reference_fresh":
        "batchnorm_backward_alt: matches reference (fresh random inputs)",
    "layernorm_forward.example_stats": "layernorm_forward: per-example mean/std",
    "layernorm_forward.reference_hidden": "layernorm_forward: matches reference (hidden inputs)",
    "layernorm_forward.reference_fresh":
        "layernorm_forward: matches reference (fresh random inputs)",
    "layernorm_forward.float32": "layernorm_forward: float32 preserved",
    "layernorm_backward.numerical": "layernorm_backward: dx/dgamma/dbeta vs numerical gradients",
    "layernorm_backward.reference_hidden": "layernorm_backward: matches reference (hidden inputs)",
    "layernorm_backward.reference_fresh":
        "layernorm_backward: matches reference (fresh random inputs)",
    "affine_norm_relu_forward.reference.batchnorm":
        "affine_norm_relu_forward: matches reference (batchnorm)",
    "affine_norm_relu_forward.reference.layernorm":
        "affine_norm_relu_forward: matches reference (layernorm)",
    "affine_norm_relu_backward.numerical":
        "affine_norm_relu_backward: gradients vs numerical (batchnorm and layernorm)",
    "affine_norm_relu_backward.reference.batchnorm":
        "affine_norm_relu_backward: matches reference (batchnorm)",
    "affine_norm_relu_backward.reference.layernorm":
        "affine_norm_relu_backward: matches reference (layernorm)",
    "fully_connected_net.init.batchnorm":
        "FullyConnectedNet.__init__: gamma and beta for every hidden layer (batchnorm)",
    "fully_connected_net.loss_reg0.batchnorm":
        "FullyConnectedNet.loss: loss and gradients match reference, reg = 0 (batchnorm)",
    "fully_connected_net.loss_reg.batchnorm":
        "FullyConnectedNet.loss: loss and gradients match reference, reg > 0 (batchnorm)",
    "fully_connected_net.numerical.batchnorm":
        "FullyConnectedNet.loss: gradients vs numerical (batchnorm)",
    "fully_connected_net.scores.batchnorm": "FullyConnectedNet.loss: test-mode scores (batchnorm)",
    "fully_connected_net.init.layernorm":
        "FullyConnectedNet.__init__: gamma and beta for every hidden layer (layernorm)",
    "fully_connected_net.loss_reg0.layernorm":
        "FullyConnectedNet.loss: loss and gradients match reference, reg = 0 (layernorm)",
    "fully_connected_net.loss_reg.layernorm":
        "FullyConnectedNet.loss: loss and gradients match reference, reg > 0 (layernorm)",
    "fully_connected_net.numerical.layernorm":
        "FullyConnectedNet.loss: gradients vs numerical (layernorm)",
    "fully_connected_net.scores.layernorm": "FullyConnectedNet.loss: test-mode scores (layernorm)",
    "spatial_batchnorm_forward.channel_stats": "spatial_batchnorm_forward: per-channel mean/std",
    "spatial_batchnorm_forward.reference_hidden":
        "spatial_batchnorm_forward: matches reference (hidden inputs)",
    "spatial_batchnorm_forward.reference_fresh":
        "spatial_batchnorm_forward: matches reference (fresh random inputs)",
    "spatial_batchnorm_forward.running_averages":
        "spatial_batchnorm_forward: running averages per channel",
    "spatial_batchnorm_backward.numerical":
        "spatial_batchnorm_backward: dx/dgamma/dbeta vs numerical gradients",
    "spatial_batchnorm_backward.reference_hidden":
        "spatial_batchnorm_backward: matches reference (hidden inputs)",
    "spatial_batchnorm_backward.reference_fresh":
        "spatial_batchnorm_backward: matches reference (fresh random inputs)",
    "spatial_groupnorm_forward.group_stats": "spatial_groupnorm_forward: per-group mean/std",
    "spatial_groupnorm_forward.reference_hidden":
        "spatial_groupnorm_forward: matches reference (hidden inputs)",
    "spatial_groupnorm_forward.reference_fresh":
        "spatial_groupnorm_forward: matches reference (fresh random inputs)",
    "spatial_groupnorm_backward.numerical":
        "spatial_groupnorm_backward: dx/dgamma/dbeta vs numerical gradients",
    "spatial_groupnorm_backward.reference_hidden":
        "spatial_groupnorm_backward: matches reference (hidden inputs)",
    "spatial_groupnorm_backward.reference_fresh":
        "spatial_groupnorm_backward: matches reference (fresh random inputs)",
    "adam.reference": "adam: matches reference (two steps)",
    "nn_batchnorm.forward.reference":
        "BatchNorm.forward: train and test outputs match reference (with and without a fused relu)",
    "nn_batchnorm.backward.numerical":
        "BatchNorm.backward: dx/dgamma/dbeta vs numerical gradients (fused relu)",
    "nn_batchnorm.backward.reference":
        "BatchNorm.backward: matches reference (with and without a fused relu)",
    "nn_layernorm.forward.reference":
        "LayerNorm.forward: train and test outputs match reference (with and without a fused relu)",
    "nn_layernorm.backward.numerical":
        "LayerNorm.backward: dx/dgamma/dbeta vs numerical gradients (fused relu)",
    "nn_layernorm.backward.reference":
        "LayerNorm.backward: matches reference (with and without a fused relu)",
    "model.calculate_loss":
        "Model.calculate_loss: data loss plus 0.5 * reg * sum(W ** 2) over the layers with a W "
        "(reg = 0 and reg > 0)",
    "model.backward.numerical":
        "Model.backward: gradients vs numerical (batch norm with a fused relu, dropout, reg > 0)",
    "model.backward.reference": "Model.backward: gradients match reference (reg > 0)",
    "torch_momentum_from_normlab.reference":
        "torch_momentum_from_normlab: matches reference (floats and an array)",
    "torch_running_var.reference":
        "torch_running_var: matches reference (unbiased variance, our momentum)",
    "keras_batchnorm_from_normlab.full_bn_param":
        "keras_batchnorm_from_normlab: matches reference (a full bn_param)",
    "keras_batchnorm_from_normlab.empty_bn_param":
        "keras_batchnorm_from_normlab: matches reference (an empty bn_param: our defaults)",
}
