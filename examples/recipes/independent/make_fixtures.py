#!/usr/bin/python3
"""Independently trained models for Graft's alignment tests (run with Debian's python3-torch and python3-sklearn).

On sklearn's digits (the same train/test split as ../digits), two models of each kind are trained from
different random starts (seeds 1 and 2), with nothing in common but the architecture and the data:
  - mlp_seed1/2.onnx: 64 -> 32 -> ReLU -> 32 -> ReLU -> 10
  - cnn_seed1/2.onnx: 1x8x8 -> Conv 16 (3x3) -> BatchNorm -> ReLU -> Conv 32 (3x3) -> BatchNorm -> ReLU
                      -> MaxPool 2 -> Flatten -> Linear 10
Their hidden units come in unrelated orders, so averaging them naively destroys both; aligning first does not.
Also written: calibration.npy, 256 training images (float32, N x 64) for activation matching.

Different label spaces (for PLeaS with one head per model):
  - mlp_low.onnx / cnn_low.onnx: digits 0-4 only (seed 1), 5 outputs (logit k is digit k)
  - mlp_high.onnx / cnn_high.onnx: digits 5-9 only (seed 2), 5 outputs (logit k is digit 5+k)
Calibration from other sources than the training images (the "data-free" case):
  - calibration_noise.npy: 256 images of uniform noise in [0, 1]
  - calibration_transposed.npy: the 256 calibration images transposed (strokes, but not digits)

Usage: /usr/bin/python3 make_fixtures.py   (writes into this folder; the same weights for a given torch build,
though the exported bytes may differ between exporter versions)
"""
import os

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))

digits = load_digits()
x = (digits.data / 16.0).astype(np.float32)
y = digits.target.astype(np.int64)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)


def mlp(classes=10):
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, classes))


class Cnn(torch.nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, classes))

    def forward(self, x):
        return self.body(x.reshape(-1, 1, 8, 8))


def train(net, seed, epochs, digits=range(10)):
    torch.manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    keep = np.isin(y_train, list(digits))
    xs = torch.from_numpy(x_train[keep])
    ys = torch.from_numpy(y_train[keep] - min(digits))
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xs))
        for i in range(0, len(xs), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xs[idx]), ys[idx]).backward()
            opt.step()
    net.eval()
    test = np.isin(y_test, list(digits))
    with torch.no_grad():
        accuracy = (net(torch.from_numpy(x_test[test])).argmax(1).numpy() == y_test[test] - min(digits)).mean()
    return net, accuracy


def export(net, name):
    torch.onnx.export(net, torch.zeros(1, 64), os.path.join(HERE, name + ".onnx"), input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=13,
                      do_constant_folding=False)


for seed in (1, 2):
    torch.manual_seed(seed)
    net, acc = train(mlp(), seed, epochs=30)
    export(net, "mlp_seed%d" % seed)
    print("mlp seed", seed, "test accuracy", acc)
    torch.manual_seed(seed)
    net, acc = train(Cnn(), seed, epochs=15)
    export(net, "cnn_seed%d" % seed)
    print("cnn seed", seed, "test accuracy", acc)

for name, seed, digits in (("low", 1, range(5)), ("high", 2, range(5, 10))):
    torch.manual_seed(seed)
    net, acc = train(mlp(5), seed, epochs=30, digits=digits)
    export(net, "mlp_" + name)
    print("mlp", name, "test accuracy on its digits", acc)
    torch.manual_seed(seed)
    net, acc = train(Cnn(5), seed, epochs=15, digits=digits)
    export(net, "cnn_" + name)
    print("cnn", name, "test accuracy on its digits", acc)

rng = np.random.default_rng(0)
calibration = x_train[rng.choice(len(x_train), 256, replace=False)]
np.save(os.path.join(HERE, "calibration.npy"), calibration)
np.save(os.path.join(HERE, "calibration_noise.npy"), rng.uniform(0, 1, (256, 64)).astype(np.float32))
np.save(os.path.join(HERE, "calibration_transposed.npy"),
        np.ascontiguousarray(calibration.reshape(-1, 8, 8).transpose(0, 2, 1).reshape(-1, 64)))
