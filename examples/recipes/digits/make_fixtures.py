#!/usr/bin/python3
"""Small multi-task fixtures for Graft's merge tests (run with Debian's python3-torch and python3-sklearn).

A base MLP (64 -> 64 -> 10) is trained briefly on all of sklearn's digits, then fine-tuned from that base on
three tasks: A = digits 0-4 only, B = digits 5-9 only, C = all digits with images mirrored left to right.
Each model is exported to ONNX (Gemm layers, opset 13). The held-out test split is written as raw
little-endian float32 features (N x 64) and uint8 labels, so the Java tests need no Python.

Usage: /usr/bin/python3 make_fixtures.py   (writes into this folder; deterministic for a given torch build)
"""
import os

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
np.random.seed(0)

digits = load_digits()
x = (digits.data / 16.0).astype(np.float32)
y = digits.target.astype(np.int64)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)


def mirror(images):
    return images.reshape(-1, 8, 8)[:, :, ::-1].reshape(-1, 64).copy()


def model():
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def train(net, xs, ys, epochs, lr):
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    xs = torch.from_numpy(xs)
    ys = torch.from_numpy(ys)
    for _ in range(epochs):
        perm = torch.randperm(len(xs))
        for i in range(0, len(xs), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xs[idx]), ys[idx])
            loss.backward()
            opt.step()
    return net


def export(net, name):
    net.eval()
    torch.onnx.export(net, torch.zeros(1, 64), os.path.join(HERE, name + ".onnx"), input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=13)


base = train(model(), x_train, y_train, epochs=1, lr=0.01)
export(base, "base")
low = y_train < 5
tasks = {
    "task_a": (x_train[low], y_train[low]),
    "task_b": (x_train[~low], y_train[~low]),
    "task_c": (mirror(x_train), y_train),
}
for name, (xs, ys) in tasks.items():
    net = model()
    net.load_state_dict(base.state_dict())
    export(train(net, xs, ys, epochs=8, lr=0.02), name)

x_test.astype("<f4").tofile(os.path.join(HERE, "test_x.f32"))
mirror(x_test).astype("<f4").tofile(os.path.join(HERE, "test_x_mirrored.f32"))
y_test.astype(np.uint8).tofile(os.path.join(HERE, "test_y.u8"))
# the same test split as the three tasks of tasks.yaml (graft eval): inputs and int64 labels per task
low_test = y_test < 5
for name, xs, ys in [("task_a", x_test[low_test], y_test[low_test]), ("task_b", x_test[~low_test], y_test[~low_test]),
                     ("task_c", mirror(x_test), y_test)]:
    np.save(os.path.join(HERE, name + "_x.npy"), np.ascontiguousarray(xs, dtype="<f4"))
    np.save(os.path.join(HERE, name + "_y.npy"), ys.astype("<i8"))
print("wrote", len(x_test), "test samples")
