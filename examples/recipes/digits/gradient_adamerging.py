#!/usr/bin/python3
"""Layer-wise AdaMerging and its supervised variant on the digits tasks, trained by gradient descent in torch as the
papers do, for comparison with Graft's derivative-free search (`SearchBenchmark digits`, README "Learned merge
coefficients"). Run with Debian's python3-torch and python3-onnx: /usr/bin/python3 gradient_adamerging.py

The same setting as Graft's benchmark: theta = base + sum_t lambda[t, l] * (theta_t - base) for each of the MLP's two
layers l (a weight and its bias share lambda), lambda starting at 0.3 and clamped to [0, 1] after each step (the
AdaMerging code's clamp); the objective is the mean over the three tasks of the mean entropy of the predictions
(AdaMerging) or of the cross-entropy with the labels (supervised), on the first half of the held-out images (the
validation split); Adam, learning rate 1e-3, 500 full-batch steps (the paper's optimiser and step count; the
paper's batches of 16 are not needed for 135 images a task). Accuracy is measured on the second half (test).
Lambda is printed in Graft's coefficient order: task A's layers, then B's, then C's.
"""
import os

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["A (0-4)", "B (5-9)", "C (mirrored)"]


def weights(name):
    m = onnx.load(os.path.join(HERE, name + ".onnx"))
    return {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}


def tasks(x, mirrored, y):
    """Each task's images and labels, as DigitsTasks builds them: A digits 0-4, B 5-9, C every digit mirrored."""
    return [(x[y < 5], y[y < 5]), (x[y >= 5], y[y >= 5]), (mirrored, y)]


def forward(w, x):
    h = torch.relu(x @ w["0.weight"].T + w["0.bias"])
    return h @ w["2.weight"].T + w["2.bias"]


def merged(base, vectors, lam):
    out = {}
    for name, value in base.items():
        layer = 0 if name.startswith("0.") else 1
        out[name] = value + sum(lam[t, layer] * vectors[t][name] for t in range(len(vectors)))
    return out


def objective(w, data, supervised):
    total = 0
    for x, y in data:
        logits = forward(w, x)
        if supervised:
            total = total + torch.nn.functional.cross_entropy(logits, y)
        else:
            p = torch.softmax(logits, dim=1)
            total = total - (p * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    return total / len(data)


def accuracy(w, data):
    return [float((forward(w, x).argmax(dim=1) == y).float().mean()) for x, y in data]


def main():
    x = torch.from_numpy(np.fromfile(os.path.join(HERE, "test_x.f32"), dtype="<f4").reshape(-1, 64).copy())
    mirrored = torch.from_numpy(np.fromfile(os.path.join(HERE, "test_x_mirrored.f32"), dtype="<f4").reshape(-1, 64)
                                .copy())
    y = torch.from_numpy(np.fromfile(os.path.join(HERE, "test_y.u8"), dtype=np.uint8).astype(np.int64))
    n = len(y)
    validation = tasks(x[:n // 2], mirrored[:n // 2], y[:n // 2])
    test = tasks(x[n // 2:], mirrored[n // 2:], y[n // 2:])
    base = weights("base")
    vectors = []
    for t in "abc":
        tuned = weights("task_" + t)
        vectors.append({k: tuned[k] - base[k] for k in base})
    start = torch.full((3, 2), 0.3)
    with torch.no_grad():
        print("start (task arithmetic 0.3): entropy %.4f, cross-entropy %.4f, test accuracy %s" % (
            objective(merged(base, vectors, start), validation, False),
            objective(merged(base, vectors, start), validation, True),
            ["%.3f" % a for a in accuracy(merged(base, vectors, start), test)]))
    for supervised in (False, True):
        lam = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([lam], lr=1e-3)
        for step in range(500):
            opt.zero_grad()
            loss = objective(merged(base, vectors, lam), validation, supervised)
            loss.backward()
            opt.step()
            with torch.no_grad():
                lam.clamp_(0, 1)
        with torch.no_grad():
            w = merged(base, vectors, lam)
            acc = accuracy(w, test)
            print("%s layer-wise, gradient: objective %.4f, test accuracy %s, average %.3f, lambda %s" % (
                "supervised" if supervised else "AdaMerging", objective(w, validation, supervised),
                ["%.3f" % a for a in acc], sum(acc) / 3, ["%.3f" % v for v in lam.numpy().reshape(-1)]))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
