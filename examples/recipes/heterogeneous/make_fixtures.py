#!/usr/bin/python3
"""MLPs of different widths and depths for Graft's heterogeneous fusion (OTFusion, CLAFusion) tests (run with
Debian's python3-torch and python3-sklearn).

On sklearn's digits (the same train/test split as ../digits and ../independent), trained from different random
starts, with nothing in common but the data:
  - mlp_w32.onnx:  64 -> 32 -> ReLU -> 10   (seed 1)
  - mlp_w128.onnx: 64 -> 128 -> ReLU -> 10  (seed 2)
  - mlp_w64.onnx:  64 -> 64 -> ReLU -> 10   (seed 3)
  - mlp_d2.onnx:   64 -> 64 -> ReLU -> 64 -> ReLU -> 10 (seed 4; two hidden layers, for depth alignment)
and pre-norm residual networks (each block h + fc2(ReLU(fc1(LayerNorm(h)))), 32 wide, FFN 64; a final LayerNorm and
head), for the depth alignment of residual blocks, where a block with zeroed fc2 is an exact identity:
  - res_d2.onnx:   64 -> 32, 2 blocks, -> 10 (seed 5)
  - res_d4.onnx:   64 -> 32, 4 blocks, -> 10 (seed 6)
and residual CNNs on the 8x8 images (a 3x3 stem to 16 channels, pre-activation blocks h + conv2(ReLU(conv1(ReLU(h)))),
global average pooling, a head), for residual blocks of convolutions:
  - resnet_d2.onnx: 2 blocks (seed 7)
  - resnet_d4.onnx: 4 blocks (seed 8)
Also written: test_x.npy / test_y.npy (the test split: float32 N x 64, int64 N) and calibration.npy (256 training
images) for activation costs and accuracy.

Usage: /usr/bin/python3 make_fixtures.py [residual]   (only the residual networks with "residual"; writes into this folder; the same weights for a given torch build,
though the exported bytes may differ between exporter versions)
"""
import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))

digits = load_digits()
x = (digits.data / 16.0).astype(np.float32)
y = digits.target.astype(np.int64)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)


def mlp(widths):
    layers = []
    previous = 64
    for w in widths:
        layers += [torch.nn.Linear(previous, w), torch.nn.ReLU()]
        previous = w
    layers.append(torch.nn.Linear(previous, 10))
    return torch.nn.Sequential(*layers)


class Block(torch.nn.Module):
    def __init__(self, width=32, inner=64):
        super().__init__()
        self.norm = torch.nn.LayerNorm(width)
        self.fc1 = torch.nn.Linear(width, inner)
        self.fc2 = torch.nn.Linear(inner, width)

    def forward(self, h):
        return h + self.fc2(torch.relu(self.fc1(self.norm(h))))


class Residual(torch.nn.Module):
    def __init__(self, depth, width=32):
        super().__init__()
        self.embed = torch.nn.Linear(64, width)
        self.blocks = torch.nn.ModuleList([Block(width) for _ in range(depth)])
        self.norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, 10)

    def forward(self, x):
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))


class ConvBlock(torch.nn.Module):
    def __init__(self, channels=16):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, h):
        return h + self.conv2(torch.relu(self.conv1(torch.relu(h))))


class ResNet(torch.nn.Module):
    def __init__(self, depth, channels=16):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = torch.nn.ModuleList([ConvBlock(channels) for _ in range(depth)])
        self.head = torch.nn.Linear(channels, 10)

    def forward(self, x):
        h = self.stem(x.reshape(-1, 1, 8, 8))
        for block in self.blocks:
            h = block(h)
        return self.head(torch.relu(h).mean(dim=(2, 3)))


def train(widths, seed, epochs=60, make=None):
    torch.manual_seed(seed)
    net = make() if make else mlp(widths)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[batch]), yt[batch])
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = (net(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
    return net, accuracy


def export(net, name, opset=13):
    torch.onnx.export(net, torch.zeros(1, 64), os.path.join(HERE, name), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset)


if __name__ == "__main__":
    for name, depth, seed in [("res_d2.onnx", 2, 5), ("res_d4.onnx", 4, 6)]:
        net, accuracy = train(None, seed, make=lambda: Residual(depth))
        export(net, name, opset=17)
        print(f"{name}: test accuracy {accuracy:.4f}")
    for name, depth, seed in [("resnet_d2.onnx", 2, 7), ("resnet_d4.onnx", 4, 8)]:
        net, accuracy = train(None, seed, epochs=30, make=lambda: ResNet(depth))
        export(net, name, opset=17)
        print(f"{name}: test accuracy {accuracy:.4f}")
    if sys.argv[1:] == ["residual"]:
        sys.exit(0)
    for name, widths, seed in [("mlp_w32.onnx", [32], 1), ("mlp_w128.onnx", [128], 2), ("mlp_w64.onnx", [64], 3),
                               ("mlp_d2.onnx", [64, 64], 4)]:
        net, accuracy = train(widths, seed)
        export(net, name)
        print(f"{name}: test accuracy {accuracy:.4f}")
    np.save(os.path.join(HERE, "test_x.npy"), x_test)
    np.save(os.path.join(HERE, "test_y.npy"), y_test)
    np.save(os.path.join(HERE, "calibration.npy"), x_train[:256])
