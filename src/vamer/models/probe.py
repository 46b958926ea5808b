"""A linear probe of the frozen audio inputs as a module: standardise, then one linear layer.

The weights are a logistic regression that scikit-learn fits (:func:`vamer.recipe.probe.fit_probe`);
this module only carries them, so the bundle, the torch engine and the ONNX graph compute the
probe exactly as it was fitted.  The inference graph averages its probabilities with the fusion
classifier's, the probe weighing ``ensemble_weight`` (an ensemble, reported as such beside each member
alone).

Shapes:

    upstream     [B, rows, hidden]   a frozen encoder's pooled states (as the audio block reads them)
    functionals  [B, F]              clip functionals (F = 0 without them)
    x            [B, rows*hidden+F]  flattened side by side, standardised with the training split's
                                     mean and std (buffers)
    logits       [B, classes]

>>> import torch
>>> probe = LinearProbe((7, 256), 0, n_classes=6)
>>> tuple(probe(torch.zeros(2, 7, 256), torch.zeros(2, 0)).shape)
(2, 6)
"""

from __future__ import annotations

import torch
from torch import nn


class LinearProbe(nn.Module):
    def __init__(self, upstream_shape: tuple[int, int], functionals_dim: int, n_classes: int) -> None:
        super().__init__()
        width = int(upstream_shape[0]) * int(upstream_shape[1]) + int(functionals_dim)
        if width == 0:
            raise ValueError("a linear probe needs frozen inputs (an audio encoder's states or clip functionals)")
        self.upstream_shape, self.functionals_dim = tuple(upstream_shape), int(functionals_dim)
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))
        # Its share when the inference graph averages it with the fusion classifier (chosen on validation).
        self.register_buffer("ensemble_weight", torch.tensor(0.5))
        self.linear = nn.Linear(width, n_classes)

    @staticmethod
    def flatten(upstream: torch.Tensor, functionals: torch.Tensor) -> torch.Tensor:
        """[B, rows, hidden] and [B, F] -> [B, rows*hidden+F]: what the probe (and its fit) reads."""
        return torch.cat([upstream.flatten(1), functionals.flatten(1)], dim=1)

    def forward(self, upstream: torch.Tensor, functionals: torch.Tensor) -> torch.Tensor:
        x = (self.flatten(upstream, functionals) - self.mean) / self.std  # [B, D]
        return self.linear(x)  # [B, classes]
