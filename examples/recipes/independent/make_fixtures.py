#!/usr/bin/python3
"""Independently trained models for Graft's alignment tests (run with Debian's python3-torch and python3-sklearn).

On sklearn's digits (the same train/test split as ../digits), two models of each kind are trained from
different random starts (seeds 1 and 2), with nothing in common but the architecture and the data:
  - mlp_seed1/2.onnx: 64 -> 32 -> ReLU -> 32 -> ReLU -> 10
  - cnn_seed1/2.onnx: 1x8x8 -> Conv 16 (3x3) -> BatchNorm -> ReLU -> Conv 32 (3x3) -> BatchNorm -> ReLU
                      -> MaxPool 2 -> Flatten -> Linear 10
Their hidden units come in unrelated orders, so averaging them naively destroys both; aligning first does not.
Also written: calibration.npy, 256 training images (float32, N x 64) for activation matching.

Usage: /usr/bin/python3 make_fixtures.py   (writes into this folder; deterministic for a given torch build)
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


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 10))


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, 10))

    def forward(self, x):
        return self.body(x.reshape(-1, 1, 8, 8))


def train(net, seed, epochs):
    torch.manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    xs = torch.from_numpy(x_train)
    ys = torch.from_numpy(y_train)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xs))
        for i in range(0, len(xs), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xs[idx]), ys[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
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

rng = np.random.default_rng(0)
np.save(os.path.join(HERE, "calibration.npy"), x_train[rng.choice(len(x_train), 256, replace=False)])
