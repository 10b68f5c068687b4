#!/usr/bin/env python3
"""Fine-tunes bge-small-en-v1.5 once per task of this folder (Debian's python3-torch and python3-onnx; CPU).

The model is rebuilt in torch from the ONNX file that Graft's build fetches from Maven Central (a BERT encoder:
post-LayerNorm, 12 layers, 12 heads, GELU), its weights read from the ONNX initializers (each MatMul weight found
by its node's module path). Per task, as task-arithmetic
experiments on text classifiers do (each task keeps its own head; the merged body is shared):
  1. a linear head on the mean-pooled last_hidden_state is started by a short linear probe of the frozen
     pretrained model (100 full-batch steps), so it also reads the pretrained and merged bodies sensibly;
  2. head and body are then fine-tuned together, the body with LoRA (rank 8, alpha 16) on query, value and every
     dense layer (attention output, FFN in and out) of all 12 layers: 3 epochs, AdamW, learning rate 1e-3.
Written per task into models/TASK/: a PEFT adapter (adapter_config.json, adapter_model.safetensors with fp16
factors) and the head (head.npy [classes, 384], head_bias.npy), plus check.tsv / check_logits.npy: a few
validation texts and the logits the fine-tuned torch model (with the fp16 factors) gives them, which the Java tests
compare with the model Graft rebuilds. Tokenization is BERT's (lowercase, accents stripped, punctuation split,
WordPiece) from tokenizer.json, at most 64 tokens in training (for time on two CPU cores; Graft evaluates with up
to 128), and the check texts are short enough for both.
Run: python3 fine_tune.py MODELS_DIR [TASK...]  (about 17 minutes on two cores with libopenblas0; Debian's
default reference BLAS is twenty times slower. MODELS_DIR holds bge-small-en-v1.5.onnx and its tokenizer.json:
cli/target/models after a Maven build).
"""
import json
import math
import os
import random
import struct
import sys
import unicodedata

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = ["licence", "source", "config", "arch", "language"]
MAX_TOKENS, RANK, ALPHA, EPOCHS, BATCH, LR, PROBE_STEPS = 64, 8, 16, 3, 16, 1e-3, 100
TARGETS = ("attention.self.query", "attention.self.value", "attention.output.dense", "intermediate.dense",
           "output.dense")
torch.set_num_threads(os.cpu_count() or 2)


class WordPiece:
    def __init__(self, tokenizer_json):
        with open(tokenizer_json, encoding="utf-8") as f:
            self.vocab = json.load(f)["model"]["vocab"]

    def basic(self, text):
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        out, word = [], ""
        for c in text:
            cat = unicodedata.category(c)
            if c.isspace() or cat.startswith("C"):
                if word:
                    out.append(word)
                word = ""
            elif cat.startswith("P") or (33 <= ord(c) <= 47) or (58 <= ord(c) <= 64) or (91 <= ord(c) <= 96) \
                    or (123 <= ord(c) <= 126) or 0x4E00 <= ord(c) <= 0x9FFF:
                if word:
                    out.append(word)
                out.append(c)
                word = ""
            else:
                word += c
        if word:
            out.append(word)
        return out

    def encode(self, text):
        ids = [self.vocab["[CLS]"]]
        for word in self.basic(text):
            if len(word) > 100:
                ids.append(self.vocab["[UNK]"])
                continue
            start, pieces = 0, []
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        pieces.append(self.vocab[piece])
                        break
                    end -= 1
                if end == start:
                    pieces = [self.vocab["[UNK]"]]
                    break
                start = end
            ids.extend(pieces)
        return ids[:MAX_TOKENS - 1] + [self.vocab["[SEP]"]]


class Lora(torch.nn.Module):
    def __init__(self, linear):
        super().__init__()
        self.linear = linear
        self.lora_A = torch.nn.Parameter(torch.empty(RANK, linear.in_features))
        self.lora_B = torch.nn.Parameter(torch.zeros(linear.out_features, RANK))
        torch.nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x):
        return self.linear(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * (ALPHA / RANK)


class Bert(torch.nn.Module):
    def __init__(self, weights, heads=12, layers=12):
        super().__init__()
        self.w = {k: torch.tensor(v) for k, v in weights.items()}
        self.heads, self.layers = heads, layers
        self.linears = torch.nn.ModuleDict()
        for name, tensor in weights.items():
            if name.endswith(".matmul"):
                module = name[:-len(".matmul")]
                lin = torch.nn.Linear(tensor.shape[0], tensor.shape[1])
                lin.weight.data = torch.tensor(tensor.T.copy())
                lin.bias.data = torch.tensor(weights[module + ".bias"])
                lin.requires_grad_(False)
                self.linears[module.replace(".", "/")] = lin

    def linear(self, module):
        return self.linears[module.replace(".", "/")]

    def add_lora(self):
        for key in list(self.linears.keys()):
            module = key.replace("/", ".")
            if module.endswith(TARGETS):
                self.linears[key] = Lora(self.linears[key])

    def norm(self, x, prefix):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], self.w[prefix + ".weight"], self.w[prefix + ".bias"],
                                              eps=1e-12)

    def forward(self, ids, mask):
        positions = torch.arange(ids.shape[1])
        x = self.w["embeddings.word_embeddings.weight"][ids] + self.w["embeddings.position_embeddings.weight"][
            positions] + self.w["embeddings.token_type_embeddings.weight"][0]
        x = self.norm(x, "embeddings.LayerNorm")
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        b, t, d = x.shape
        hd = d // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self.linear(p + "attention.self." + n)(x).view(b, t, self.heads, hd).transpose(1, 2)
                       for n in ("query", "key", "value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = self.norm(x + self.linear(p + "attention.output.dense")(ctx), p + "attention.output.LayerNorm")
            h = torch.nn.functional.gelu(self.linear(p + "intermediate.dense")(x))
            x = self.norm(x + self.linear(p + "output.dense")(h), p + "output.LayerNorm")
        return x

    def pooled(self, ids, mask):
        h = self.forward(ids, mask)
        m = mask.unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1)


def load_weights(onnx_file):
    model = onnx.load(onnx_file)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    weights = {k: v for k, v in inits.items() if not k.startswith("onnx::")}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            module = node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")
            weights[module + ".matmul"] = inits[node.input[1]]
    return weights


def batches(rows, tokenizer, shuffle, rng):
    order = list(range(len(rows)))
    if shuffle:
        rng.shuffle(order)
    for s in range(0, len(order), BATCH):
        chunk = [rows[i] for i in order[s:s + BATCH]]
        encoded = [tokenizer.encode(text) for _, text in chunk]
        length = max(len(e) for e in encoded)
        ids = torch.zeros(len(chunk), length, dtype=torch.long)
        mask = torch.zeros(len(chunk), length, dtype=torch.long)
        for k, e in enumerate(encoded):
            ids[k, :len(e)] = torch.tensor(e)
            mask[k, :len(e)] = 1
        yield ids, mask, torch.tensor([label for label, _ in chunk])


def read(task, split, classes=None):
    with open(os.path.join(HERE, f"{task}_{split}.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    classes = classes or sorted({label for label, _ in rows})
    return [(classes.index(label), text) for label, text in rows], classes


def accuracy(bert, head, rows, tokenizer):
    correct = 0
    with torch.no_grad():
        for ids, mask, labels in batches(rows, tokenizer, False, None):
            correct += (head(bert.pooled(ids, mask)).argmax(-1) == labels).sum().item()
    return correct / len(rows)


def save_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, array in tensors.items():
        data = array.astype("<f2").tobytes()
        header[name] = {"dtype": "F16", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def fine_tune(task, weights, tokenizer):
    rng = random.Random(0)
    torch.manual_seed(0)
    train, classes = read(task, "train")
    validation, _ = read(task, "validation", classes)
    bert = Bert(weights)
    head = torch.nn.Linear(384, len(classes))
    with torch.no_grad():  # 1. linear probe on the frozen pretrained features
        feats, labels = [], []
        for ids, mask, y in batches(train, tokenizer, False, None):
            feats.append(bert.pooled(ids, mask))
            labels.append(y)
        feats, labels = torch.cat(feats), torch.cat(labels)
    probe = torch.optim.AdamW(head.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(PROBE_STEPS):
        probe.zero_grad()
        torch.nn.functional.cross_entropy(head(feats), labels).backward()
        probe.step()
    probe_accuracy = accuracy(bert, head, validation, tokenizer)
    bert.add_lora()  # 2. LoRA on the body, trained with the head
    params = [p for p in bert.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    steps = EPOCHS * math.ceil(len(train) / BATCH)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10) * (1 - s / steps))
    for epoch in range(EPOCHS):
        for step, (ids, mask, y) in enumerate(batches(train, tokenizer, True, rng)):
            if step % 10 == 0:
                print(f"{task}: epoch {epoch + 1}, step {step}", flush=True)
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(head(bert.pooled(ids, mask)), y).backward()
            optimizer.step()
            schedule.step()
    with torch.no_grad():  # what is stored is fp16: the checks use the same rounded factors
        for p in params:
            p.data = p.data.half().float()
    tuned_accuracy = accuracy(bert, head, validation, tokenizer)
    out = os.path.join(HERE, "models", task)
    os.makedirs(out, exist_ok=True)
    tensors = {}
    for key, module in bert.linears.items():
        if isinstance(module, Lora):
            name = "base_model.model." + key.replace("/", ".")
            tensors[name + ".lora_A.weight"] = module.lora_A.detach().numpy()
            tensors[name + ".lora_B.weight"] = module.lora_B.detach().numpy()
    save_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": RANK, "lora_alpha": ALPHA, "target_modules": list(TARGETS),
                   "bias": "none", "fan_in_fan_out": False, "base_model_name_or_path": "BAAI/bge-small-en-v1.5",
                   "task_type": "FEATURE_EXTRACTION"}, f, indent=2)
    np.save(os.path.join(out, "head.npy"), head.weight.detach().numpy().astype("<f4"))
    np.save(os.path.join(out, "head_bias.npy"), head.bias.detach().numpy().astype("<f4"))
    check = [row for row in validation if len(tokenizer.encode(row[1])) < MAX_TOKENS][:8]
    with torch.no_grad():
        ids, mask, _ = next(batches(check, tokenizer, False, None))
        np.save(os.path.join(out, "check_logits.npy"), head(bert.pooled(ids, mask)).numpy().astype("<f4"))
    with open(os.path.join(out, "check.tsv"), "w", encoding="utf-8") as f:
        for label, text in check:
            f.write(f"{classes[label]}\t{text}\n")
    with open(os.path.join(out, "classes.json"), "w") as f:
        json.dump(classes, f)
    print(f"{task}: classes {classes}, validation accuracy linear probe {probe_accuracy:.3f}, "
          f"fine-tuned {tuned_accuracy:.3f}", flush=True)


if __name__ == "__main__":
    models = sys.argv[1]
    weights = load_weights(os.path.join(models, "bge-small-en-v1.5.onnx"))
    tokenizer = WordPiece(os.path.join(models, "bge-small-en-v1.5-tokenizer.json"))
    for task in sys.argv[2:] or TASKS:
        fine_tune(task, weights, tokenizer)
