#!/usr/bin/python3
"""Tiny Llama-style decoders for Graft's decoder tests (run with Debian's python3-torch and python3-onnx).

The architecture is Hugging Face's LlamaForCausalLM written out in plain torch (no transformers here), with the
module names Hugging Face uses, so the exports look like Optimum's: RMSNorm (`x * rsqrt(mean(x²) + eps) * w`),
rotary position embeddings computed from `position_ids`, grouped-query attention (2 query heads sharing 1 key/value
head, head size 16: ONNX Runtime's GroupQueryAttention needs a multiple of 16), SwiGLU MLPs, 2 layers, hidden size 32, a character vocabulary of 98 (`tokenizer.json`: 0 is padding,
1 unknown, 2 the start of text, 3..97 printable ASCII), and tied embeddings unless said otherwise.

Training (seconds on 2 cores): a base model on a mix of three kinds of text found on a Debian machine (licences from
/usr/share/common-licenses, C headers from /usr/include, the Python standard library), then one full fine-tune per
kind from the base. `{domain}_test.txt` keeps 120 held-out lines of each kind (for perplexity and calibration).

Written (`{name}` is base, licence, c and python):
  optimum/{name}/model.onnx          Optimum-style with a KV cache: inputs input_ids, attention_mask
                                     [batch, past_sequence_length + sequence_length], position_ids,
                                     past_key_values.{i}.key/value [batch, 1, past_sequence_length, 16];
                                     outputs logits, present.{i}.key/value. Linear weights are anonymous
                                     `onnx::MatMul_NNN` [in, out]; the tied lm_head is a transposed copy of
                                     model.embed_tokens.weight.
  untied/model.onnx                  the base with lm_head untied (its own copy of the embedding, so a merge of
                                     tied and untied exports of the same weights is possible); counters shift
  no_cache/model.onnx                the base without a KV cache: input_ids, attention_mask, position_ids -> logits
  fp16/model.onnx                    the base in float16 (weights, past_key_values, present and logits)
  external/model.onnx + model.onnx_data   the base with every weight in Optimum's external data file
  legacy/decoder_model_merged.onnx   the base as Optimum's legacy merged decoder: an If on use_cache_branch (a
                                     bool [1] input) runs the decoder with past key/values or without, both
                                     branches reading the outer graph's initializers
  checkpoints/licence/model.safetensors   the licence fine-tune as Hugging Face saves it (names, [out, in], the tied
                                     lm_head left out); checkpoints/c_sharded: the C fine-tune in two shards with
                                     model.safetensors.index.json
  genai/{base,licence}/                as ONNX Runtime GenAI's builder writes them: model.onnx + model.onnx.data (every
                                     initializer external), genai_config.json, tokenizer.json; packed Q|K|V
                                     (model.layers.{i}.attn.qkv_proj.MatMul.weight), (Skip)SimplifiedLayerNormalization,
                                     GroupQueryAttention with rotary inside (cos_cache/sin_cache), and
                                     past_key_values inputs of [batch, 1, past_sequence_length, 16]
  int4/{base,licence}/model.onnx     optimum/{base,licence} with every MatMul by a weight made com.microsoft
                                     MatMulNBits (4 bits, block 16, symmetric: ONNX Runtime's quantizer's rule)
  int4_hqq/{base,licence}/model.onnx the same with ONNX Runtime's HQQ quantizer's layout: float zero points fitted
                                     per block ([N, K/16] float32, as the scales), `make_decoders.py int4-hqq`
  genai_int4/{base,licence}/         genai/{base,licence} with every linear layer (packed Q|K|V and the head too) as
                                     MatMulNBits (4 bits, block 16), external data as GenAI's builder writes int4
                                     (`make_decoders.py genai-int4` writes only these)
  olive/model.onnx                   the base as Olive's ExtractAdapters pass writes a PEFT model (LoRA on q_proj and
                                     v_proj): input slots model.layers.{i}.self_attn.{q,v}_proj.lora_A.weight
                                     [in, lora_r] / .lora_B.weight [lora_r, out] with rank-0 defaults, the base
                                     weight's node under .../base_layer/ (`make_decoders.py olive` writes only this)
  expected.npz-like files            tokens.npy (2 x 12 token ids, the second sample left-padded by 3) and, per
                                     name, logits_{name}.npy: torch's logits for them ([2, 12, 98], float32)

Usage: /usr/bin/python3 make_decoders.py   (writes into this folder; the same weights for a given torch build,
though the exported bytes may differ between exporter versions)
"""
import glob
import math
import os
import random
import re
import shutil
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 98
HIDDEN = 32
HEADS = 2
KV_HEADS = 1
HEAD = HIDDEN // HEADS
FFN = 64
LAYERS = 2
EPS = 1e-6
THETA = 10000.0
DOMAINS = ["licence", "c", "python"]
CONTEXT = 64


def encode(text):
    return [c - 29 if 32 <= c <= 126 else 1 for c in text.encode("ascii", "replace")]


def write_tokenizer(path):
    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2}
    for c in range(32, 127):
        vocab[chr(c)] = c - 29
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for t, i in list(vocab.items())[:3]],
        "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None,
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": []},
    }
    import json
    with open(path, "w") as f:
        json.dump(tokenizer, f, indent=1)


class RMSNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(HIDDEN))

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + EPS))


def rotate_half(x):
    return torch.cat((-x[..., HEAD // 2:], x[..., :HEAD // 2]), dim=-1)


def repeat_kv(x):
    """Each key/value head repeated for the query heads that share it (Hugging Face's repeat_kv)."""
    b, kv, n, d = x.shape
    return x[:, :, None, :, :].expand(b, kv, HEADS // KV_HEADS, n, d).reshape(b, HEADS, n, d)


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = torch.nn.Linear(HIDDEN, HEADS * HEAD, bias=False)
        self.k_proj = torch.nn.Linear(HIDDEN, KV_HEADS * HEAD, bias=False)
        self.v_proj = torch.nn.Linear(HIDDEN, KV_HEADS * HEAD, bias=False)
        self.o_proj = torch.nn.Linear(HEADS * HEAD, HIDDEN, bias=False)

    def forward(self, h, cos, sin, mask, past):
        b, n, _ = h.shape
        q = self.q_proj(h).view(b, n, HEADS, HEAD).transpose(1, 2)
        k = self.k_proj(h).view(b, n, KV_HEADS, HEAD).transpose(1, 2)
        v = self.v_proj(h).view(b, n, KV_HEADS, HEAD).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        present = (k, v)
        k = repeat_kv(k)
        v = repeat_kv(v)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(HEAD) + mask
        out = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, n, HIDDEN)
        return self.o_proj(out), present


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = torch.nn.Linear(HIDDEN, FFN, bias=False)
        self.up_proj = torch.nn.Linear(HIDDEN, FFN, bias=False)
        self.down_proj = torch.nn.Linear(FFN, HIDDEN, bias=False)

    def forward(self, x):
        return self.down_proj(torch.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = RMSNorm()
        self.self_attn = Attention()
        self.post_attention_layernorm = RMSNorm()
        self.mlp = Mlp()

    def forward(self, h, cos, sin, mask, past):
        a, present = self.self_attn(self.input_layernorm(h), cos, sin, mask, past)
        h = h + a
        return h + self.mlp(self.post_attention_layernorm(h)), present


class Body(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(VOCAB, HIDDEN)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(LAYERS)])
        self.norm = RMSNorm()
        self.register_buffer("inv_freq", 1.0 / THETA ** (torch.arange(0, HEAD, 2).float() / HEAD), persistent=False)

    def forward(self, input_ids, attention_mask, position_ids, past):
        h = self.embed_tokens(input_ids)
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos()[:, None, :, :]
        sin = emb.sin()[:, None, :, :]
        n = input_ids.shape[1]
        total = attention_mask.shape[1]
        # query i sits at total - n + i and may see keys up to there, and no padding
        rows = torch.arange(n)[:, None] + (total - n)
        cols = torch.arange(total)[None, :]
        allowed = (cols <= rows)[None, None, :, :] & (attention_mask[:, None, None, :] > 0)
        mask = torch.where(allowed, torch.zeros(1), torch.full((1,), torch.finfo(torch.float32).min))
        presents = []
        for i, layer in enumerate(self.layers):
            h, present = layer(h, cos, sin, mask, (past[2 * i], past[2 * i + 1]) if past else None)
            presents.extend(present)
        return self.norm(h), presents


class Llama(torch.nn.Module):
    """LlamaForCausalLM's forward; `past` is a flat list (key, value per layer) or empty."""

    def __init__(self, tied=True):
        super().__init__()
        self.model = Body()
        self.lm_head = torch.nn.Linear(HIDDEN, VOCAB, bias=False)
        if tied:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids, attention_mask, position_ids, *past):
        h, presents = self.model(input_ids, attention_mask, position_ids, past)
        return (self.lm_head(h), *presents)


def corpus(domain):
    if domain == "licence":
        files = sorted(glob.glob("/usr/share/common-licenses/*"))
    elif domain == "c":
        files = sorted(glob.glob("/usr/include/*.h"))
    else:
        files = sorted(glob.glob("/usr/lib/python3.11/*.py"))
    lines = []
    for f in files:
        if os.path.isfile(f):
            with open(f, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    line = line.strip()
                    if len(line) >= 24 and all(32 <= ord(c) <= 126 for c in line):
                        lines.append(line)
    lines = sorted(set(lines))
    random.Random(domain).shuffle(lines)
    return lines[120:], lines[:120]


def batches(lines, rng, batch=32):
    rows = []
    for _ in range(batch):
        ids = [2]
        while len(ids) < CONTEXT + 1:
            ids += encode(rng.choice(lines)) + [encode(" ")[0]]
        rows.append(ids[:CONTEXT + 1])
    t = torch.tensor(rows)
    return t[:, :-1], t[:, 1:]


def train(net, lines, steps, seed, lr):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    ones = torch.ones(32, CONTEXT, dtype=torch.long)
    positions = torch.arange(CONTEXT)[None, :].repeat(32, 1)
    for _ in range(steps):
        x, y = batches(lines, rng)
        logits = net(x, ones, positions)[0]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def test_tokens():
    """Two samples of 12 tokens: the second left-padded by 3 (id 0, mask 0)."""
    a = [2] + encode("int main(vo")
    b = [0, 0, 0, 2] + encode("licensed")[:8]
    ids = np.array([a, b], dtype=np.int64)
    mask = (ids != 0).astype(np.int64)
    mask[0, :] = 1
    positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0).astype(np.int64)
    return ids, mask, positions


def export(net, path, with_past=True, present=True):
    ids, mask, positions = (torch.from_numpy(a) for a in test_tokens())
    names = ["input_ids", "attention_mask", "position_ids"]
    dynamic = {"input_ids": {0: "batch_size", 1: "sequence_length"},
               "position_ids": {0: "batch_size", 1: "sequence_length"},
               "logits": {0: "batch_size", 1: "sequence_length"}}
    args = [ids[:, 8:], mask, positions[:, 8:]]
    outputs = ["logits"]
    if with_past:
        dynamic["attention_mask"] = {0: "batch_size", 1: "past_sequence_length + sequence_length"}
        with torch.no_grad():
            prefix = net(ids[:, :8], mask[:, :8], positions[:, :8])
        for i in range(LAYERS):
            for j, part in enumerate(["key", "value"]):
                names.append(f"past_key_values.{i}.{part}")
                dynamic[names[-1]] = {0: "batch_size", 2: "past_sequence_length"}
                args.append(prefix[1 + 2 * i + j])
    else:
        dynamic["attention_mask"] = {0: "batch_size", 1: "sequence_length"}
        args = [ids, mask, positions]
    if present:
        for i in range(LAYERS):
            for part in ["key", "value"]:
                outputs.append(f"present.{i}.{part}")
                dynamic[outputs[-1]] = {0: "batch_size", 2: "past_sequence_length + sequence_length"}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model = net if present else LogitsOnly(net)
    torch.onnx.export(model, tuple(args), path, input_names=names, output_names=outputs, dynamic_axes=dynamic,
                      opset_version=14, do_constant_folding=True)


class LogitsOnly(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.model = net.model
        self.lm_head = net.lm_head

    def forward(self, input_ids, attention_mask, position_ids):
        return self.lm_head(self.model(input_ids, attention_mask, position_ids, ())[0])


def to_float16(src, dst):
    """Every float32 tensor, value type and cast of `src` as float16 (Optimum's fp16 exports are float16 all
    through; ONNX Runtime's CPU provider adds casts where it has no float16 kernel)."""
    m = onnx.load(src)
    g = m.graph
    for t in g.initializer:
        if t.data_type == TensorProto.FLOAT:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    for v in list(g.input) + list(g.output) + list(g.value_info):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    for n in g.node:
        for a in n.attribute:
            if a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                arr = numpy_helper.to_array(a.t)
                # the attention mask's minimum does not fit float16: use float16's
                arr = np.maximum(arr, np.finfo(np.float16).min).astype(np.float16)
                a.t.CopyFrom(numpy_helper.from_array(arr, a.t.name))
    onnx.save(m, dst)


def quantize_int4(w, block):
    """A [K, N] float32 weight as MatMulNBits' inputs: codes uint8 [N, K/block, block/2] (low nibble first) and
    scales float32 [N·K/block], by the symmetric rule of ONNX Runtime's MLAS quantizer: per block, the value of
    largest magnitude with its sign v (the minimum on a tie), scale = v / -8, q = clamp(round(w · (1/scale) + 8),
    0, 15) in float32, halves away from 0."""
    k, n = w.shape
    blocks = w.T.reshape(n, k // block, block).astype(np.float32)
    lo, hi = blocks.min(axis=2), blocks.max(axis=2)
    v = np.where(np.abs(hi) > np.abs(lo), hi, lo)  # MLAS: the larger magnitude, the minimum on a tie
    scale = (v / np.float32(-8)).astype(np.float32)
    rscale = np.where(scale != 0, 1.0 / np.where(scale != 0, scale, 1), 0).astype(np.float32)
    x = blocks * rscale[:, :, None] + np.float32(8)
    q = np.clip(np.sign(x) * np.floor(np.abs(x) + 0.5), 0, 15).astype(np.uint8)
    packed = (q[:, :, 0::2] | (q[:, :, 1::2] << 4)).astype(np.uint8)
    return packed, scale.reshape(-1)


def quantize_hqq(w, block, iterations=20):
    """A [K, N] float32 weight as MatMulNBits' inputs with float zero points, fitted per block as HQQ does (Badri and
    Shaji 2023; ONNX Runtime's HQQWeightOnlyQuantizer, 4 bits, zero point not rounded): start from the block's
    range (inverse scale 15 / (max - min), zero point -min·that), then alternate codes q = clamp(round(w·s + z)),
    an lp-shrunk error e = shrink(w - (q - z)/s) (p = 0.7, beta from 10, times 1.01 a step) and
    z = mean(q - (w - e)·s), stopping when the mean error grows. Returns codes uint8 [N, K/block, block/2], scales
    and zero points float32 [N, K/block]."""
    k, n = w.shape
    blocks = w.T.reshape(n, k // block, block).astype(np.float32)
    lo, hi = blocks.min(axis=2, keepdims=True), blocks.max(axis=2, keepdims=True)
    s = (np.float32(15) / np.maximum(hi - lo, np.float32(1e-8))).astype(np.float32)
    z = (-lo * s).astype(np.float32)
    beta, best = np.float32(10), None
    for _ in range(iterations):
        q = np.clip(np.round(blocks * s + z), 0, 15)
        r = (q - z) / s
        x = blocks - r
        e = np.sign(x) * np.maximum(np.abs(x) - (np.abs(x) + np.float32(1e-8)) ** np.float32(-0.3) / beta, 0)
        z_next = np.mean(q - (blocks - e) * s, axis=2, keepdims=True).astype(np.float32)
        beta *= np.float32(1.01)
        err = float(np.mean(np.abs(blocks - r)))
        if best is not None and err >= best:
            break
        best, z = err, z_next
    q = np.clip(np.round(blocks * s + z), 0, 15).astype(np.uint8)
    packed = (q[:, :, 0::2] | (q[:, :, 1::2] << 4)).astype(np.uint8)
    return packed, (np.float32(1) / s)[:, :, 0].astype(np.float32), z[:, :, 0].astype(np.float32)


def to_int4(src, dst, block=16, external=False, hqq=False):
    """`src` with every MatMul by a [K, N] weight replaced by com.microsoft MatMulNBits (4 bits), as ONNX Runtime's
    matmul_4bits_quantizer rewrites Optimum exports: symmetric with no zero points (its default rule), or with
    `hqq` float zero points fitted per block and 2-D scales (its HQQ quantizer)."""
    m = onnx.load(src)
    g = m.graph
    weights = {t.name: t for t in g.initializer}
    nodes = []
    dropped = set()
    for node in g.node:
        if node.op_type == "MatMul" and node.input[1] in weights and len(weights[node.input[1]].dims) == 2:
            w = numpy_helper.to_array(weights[node.input[1]])
            k, n = w.shape
            base = node.name.strip("/").replace("/", ".")
            inputs = [node.input[0], base + ".weight_Q4", base + ".weight_scales"]
            packed, scales, *zeros = quantize_hqq(w, block) if hqq else quantize_int4(w, block)
            g.initializer.extend([numpy_helper.from_array(packed, base + ".weight_Q4"),
                                  numpy_helper.from_array(scales, base + ".weight_scales")])
            if hqq:
                g.initializer.append(numpy_helper.from_array(zeros[0], base + ".weight_zp"))
                inputs.append(base + ".weight_zp")
            dropped.add(node.input[1])
            nodes.append(helper.make_node("MatMulNBits", inputs,
                                          list(node.output), name=node.name + "_Q4", domain="com.microsoft",
                                          K=k, N=n, bits=4, block_size=block, accuracy_level=0))
        else:
            nodes.append(node)
    del g.node[:]
    g.node.extend(nodes)
    kept = [t for t in g.initializer if t.name not in dropped]
    del g.initializer[:]
    g.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if external:
        onnx.save(m, dst, save_as_external_data=True, all_tensors_to_one_file=True,
                  location=os.path.basename(dst) + ".data", size_threshold=0)
    else:
        onnx.save(m, dst)


def genai_int4(src, dst):
    """The GenAI build in folder `src` with its linear layers as MatMulNBits (packed Q|K|V and the head included),
    laid out as GenAI's builder writes int4 models: model.onnx + model.onnx.data, genai_config.json and
    tokenizer.json beside it."""
    shutil.rmtree(dst, ignore_errors=True)
    to_int4(os.path.join(src, "model.onnx"), os.path.join(dst, "model.onnx"), external=True)
    for f in ["genai_config.json", "tokenizer.json"]:
        shutil.copy(os.path.join(src, f), os.path.join(dst, f))


def merged_decoder(with_past, without_past, dst):
    """Optimum's legacy decoder_model_merged.onnx: one graph whose If on `use_cache_branch` runs the decoder with
    past key/values or the one without; initializers equal in both (here all of them, renamed to the with-past
    names) live in the outer graph, read by both branches."""
    a, b = onnx.load(with_past), onnx.load(without_past)
    by_bytes = {t.raw_data: t.name for t in a.graph.initializer}
    rename = {t.name: by_bytes[t.raw_data] for t in b.graph.initializer}
    for n in b.graph.node:
        for i, name in enumerate(n.input):
            if name in rename:
                n.input[i] = rename[name]
    outputs = [o.name for o in a.graph.output]
    branches = []
    for m, name in [(a, "with_past"), (b, "without_past")]:
        branches.append(helper.make_graph(list(m.graph.node), name, [], list(m.graph.output)))
    use_cache = helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1])
    node = helper.make_node("If", ["use_cache_branch"], outputs, name="optimum::if", then_branch=branches[0],
                            else_branch=branches[1])
    graph = helper.make_graph([node], "merged", list(a.graph.input) + [use_cache], list(a.graph.output),
                              list(a.graph.initializer))
    model = helper.make_model(graph, opset_imports=list(a.opset_import))
    model.ir_version = a.ir_version
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    onnx.save(model, dst)


def olive_slots(src, dst, targets=("q_proj", "v_proj")):
    """`src` as Olive's ExtractAdapters pass leaves a PEFT model exported with TorchScript (make_inputs, dynamic
    lora_r, optional inputs): each targeted linear layer runs as PEFT's LoraLayer, its own MatMul under
    `.../{target}/base_layer/` plus `x·lora_A·lora_B` (`/lora_A/default/MatMul`, `/lora_B/default/MatMul`, the
    scaling folded into B, so no Mul) added to it; `model.layers.{i}.self_attn.{target}.lora_A.weight` [in, lora_r]
    and `.lora_B.weight` [lora_r, out] are graph inputs whose defaults are initializers with lora_r = 0, so
    without an adapter the model computes the base function."""
    m = onnx.load(src)
    g = m.graph
    producers = {o: n for n in g.node for o in n.output}
    shapes = {t.name: list(t.dims) for t in g.initializer}
    nodes = []
    for n in g.node:
        target = re.fullmatch(r"/model/layers\.(\d+)/self_attn/(\w+)/MatMul", n.name)
        if not target or target.group(2) not in targets:
            nodes.append(n)
            continue
        scope = n.name[:-len("/MatMul")]
        module = scope[1:].replace("/", ".")
        k, out = shapes[n.input[1]]
        y = n.output[0]
        n.name = scope + "/base_layer/MatMul"
        n.output[0] = scope + "/base_layer/MatMul_output_0"
        a, b = module + ".lora_A.weight", module + ".lora_B.weight"
        nodes += [n,
                  helper.make_node("MatMul", [n.input[0], a], [scope + "/lora_A/default/MatMul_output_0"],
                                   name=scope + "/lora_A/default/MatMul"),
                  helper.make_node("MatMul", [scope + "/lora_A/default/MatMul_output_0", b],
                                   [scope + "/lora_B/default/MatMul_output_0"], name=scope + "/lora_B/default/MatMul"),
                  helper.make_node("Add", [n.output[0], scope + "/lora_B/default/MatMul_output_0"], [y],
                                   name=scope + "/Add")]
        g.input.append(helper.make_tensor_value_info(a, TensorProto.FLOAT, [k, "lora_r"]))
        g.input.append(helper.make_tensor_value_info(b, TensorProto.FLOAT, ["lora_r", out]))
        g.initializer.append(numpy_helper.from_array(np.zeros((k, 0), np.float32), a))
        g.initializer.append(numpy_helper.from_array(np.zeros((0, out), np.float32), b))
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    onnx.save(m, dst)


def save_safetensors(tensors, path):
    """`tensors` (name -> float32 array) as a safetensors file (8-byte header length, JSON header, data)."""
    import json
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)


def save_checkpoint(net, folder, shards=1):
    """`net` as Hugging Face's save_pretrained writes it: parameters by name in PyTorch's [out, in] layout, a tied
    lm_head left out; with shards > 1, model-0000k-of-0000n.safetensors files and model.safetensors.index.json."""
    import json
    state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    if net.lm_head.weight is net.model.embed_tokens.weight:
        del state["lm_head.weight"]
    os.makedirs(folder, exist_ok=True)
    if shards == 1:
        save_safetensors(state, os.path.join(folder, "model.safetensors"))
        return
    names = list(state)
    weight_map = {}
    for k in range(shards):
        part = names[k::shards]
        file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        save_safetensors({n: state[n] for n in part}, os.path.join(folder, file))
        weight_map.update({n: file for n in part})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(a.nbytes for a in state.values())}, "weight_map": weight_map}, f,
                  indent=1)


def genai(net, folder, max_positions=256):
    """`net` as ONNX Runtime GenAI's model builder writes a Llama: SimplifiedLayerNormalization and
    SkipSimplifiedLayerNormalization, one packed MatMul for Q|K|V per layer ([hidden, (heads + 2·kv_heads)·head],
    named model.layers.{i}.attn.qkv_proj.MatMul.weight), GroupQueryAttention with the rotary embedding inside
    (cos_cache/sin_cache [max_positions, head/2]), the final norm model.layers.{N}.final_norm_layernorm.weight, every
    initializer in model.onnx.data, and genai_config.json."""
    import json
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    inits, nodes = [], []

    def init(name, a):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(a, dtype=np.float32), name))
        return name

    def node(op, inputs, outputs, name, domain="", **attrs):
        nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs))
        return outputs

    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"])]
    outputs = [helper.make_tensor_value_info("logits", f, ["batch_size", "sequence_length", VOCAB])]
    inv_freq = 1.0 / THETA ** (np.arange(0, HEAD, 2, dtype=np.float32) / HEAD)
    angles = np.arange(max_positions, dtype=np.float32)[:, None] * inv_freq[None, :]
    init("cos_cache", np.cos(angles))
    init("sin_cache", np.sin(angles))
    nodes.append(helper.make_node("Constant", [], ["one"], name="/model/constant_one",
                                  value=numpy_helper.from_array(np.array([1], dtype=np.int64))))
    node("ReduceSum", ["attention_mask", "one"], ["mask_sum"], "/model/attn_mask_reformat/ReduceSum", keepdims=0)
    node("Sub", ["mask_sum", "one"], ["mask_sub"], "/model/attn_mask_reformat/Sub")
    node("Cast", ["mask_sub"], ["seqlens_k"], "/model/attn_mask_reformat/Cast", to=TensorProto.INT32)
    node("Shape", ["attention_mask"], ["mask_shape"], "/model/attn_mask_reformat/Shape")
    nodes.append(helper.make_node("Constant", [], ["index_one"], name="/model/constant_index_one",
                                  value=numpy_helper.from_array(np.array(1, dtype=np.int64))))
    node("Gather", ["mask_shape", "index_one"], ["total_len64"], "/model/attn_mask_reformat/Gather", axis=0)
    node("Cast", ["total_len64"], ["total_len"], "/model/attn_mask_reformat/Cast_1", to=TensorProto.INT32)
    h = node("Gather", [init("model.embed_tokens.weight", sd["model.embed_tokens.weight"]), "input_ids"],
             ["/model/embed_tokens/output"], "/model/embed_tokens/Gather")[0]
    residual = None
    normed = None
    down = None
    for i in range(LAYERS):
        p = f"model.layers.{i}"
        scope = f"/model/layers.{i}"
        if i == 0:
            normed = node("SimplifiedLayerNormalization", [h, init(f"{p}.input_layernorm.weight", sd[f"{p}.input_layernorm.weight"])],
                          [f"{scope}/input_layernorm/output"], f"{scope}/input_layernorm/LayerNorm", axis=-1,
                          epsilon=EPS, stash_type=1)[0]
            residual = h
        else:
            outs = node("SkipSimplifiedLayerNormalization", [down, residual, init(f"{p}.input_layernorm.weight",
                        sd[f"{p}.input_layernorm.weight"])], [f"{scope}/input_layernorm/output", "", "",
                        f"{scope}/input_layernorm/residual"], f"{scope}/input_layernorm/SkipLayerNorm", "com.microsoft",
                        epsilon=EPS)
            normed, residual = outs[0], outs[3]
        qkv = np.concatenate([sd[f"{p}.self_attn.{x}_proj.weight"].T for x in "qkv"], axis=1)
        q = node("MatMul", [normed, init(f"{p}.attn.qkv_proj.MatMul.weight", qkv)], [f"{scope}/attn/qkv_proj/output"],
                 f"{scope}/attn/qkv_proj/MatMul")[0]
        past_k, past_v = f"past_key_values.{i}.key", f"past_key_values.{i}.value"
        for name in (past_k, past_v):
            inputs.append(helper.make_tensor_value_info(name, f, ["batch_size", KV_HEADS, "past_sequence_length", HEAD]))
        for part in ("key", "value"):
            outputs.append(helper.make_tensor_value_info(f"present.{i}.{part}", f,
                                                         ["batch_size", KV_HEADS, "total_sequence_length", HEAD]))
        attn = node("GroupQueryAttention", [q, "", "", past_k, past_v, "seqlens_k", "total_len", "cos_cache", "sin_cache"],
                    [f"{scope}/attn/output", f"present.{i}.key", f"present.{i}.value"], f"{scope}/attn/GroupQueryAttention",
                    "com.microsoft", num_heads=HEADS, kv_num_heads=KV_HEADS, scale=1.0 / math.sqrt(HEAD), do_rotary=1,
                    rotary_interleaved=0, local_window_size=-1)[0]
        o = node("MatMul", [attn, init(f"{p}.attn.o_proj.MatMul.weight", sd[f"{p}.self_attn.o_proj.weight"].T)],
                 [f"{scope}/attn/o_proj/output"], f"{scope}/attn/o_proj/MatMul")[0]
        outs = node("SkipSimplifiedLayerNormalization", [o, residual, init(f"{p}.post_attention_layernorm.weight",
                    sd[f"{p}.post_attention_layernorm.weight"])], [f"{scope}/post_attention_layernorm/output", "", "",
                    f"{scope}/post_attention_layernorm/residual"], f"{scope}/post_attention_layernorm/SkipLayerNorm",
                    "com.microsoft", epsilon=EPS)
        normed, residual = outs[0], outs[3]
        gate = node("MatMul", [normed, init(f"{p}.mlp.gate_proj.MatMul.weight", sd[f"{p}.mlp.gate_proj.weight"].T)],
                    [f"{scope}/mlp/gate_proj/output"], f"{scope}/mlp/gate_proj/MatMul")[0]
        up = node("MatMul", [normed, init(f"{p}.mlp.up_proj.MatMul.weight", sd[f"{p}.mlp.up_proj.weight"].T)],
                  [f"{scope}/mlp/up_proj/output"], f"{scope}/mlp/up_proj/MatMul")[0]
        sig = node("Sigmoid", [gate], [f"{scope}/mlp/act_fn/Sigmoid/output"], f"{scope}/mlp/act_fn/Sigmoid")[0]
        act = node("Mul", [gate, sig], [f"{scope}/mlp/act_fn/Mul/output"], f"{scope}/mlp/act_fn/Mul")[0]
        prod = node("Mul", [act, up], [f"{scope}/mlp/Mul/output"], f"{scope}/mlp/Mul")[0]
        down = node("MatMul", [prod, init(f"{p}.mlp.down_proj.MatMul.weight", sd[f"{p}.mlp.down_proj.weight"].T)],
                    [f"{scope}/mlp/down_proj/output"], f"{scope}/mlp/down_proj/MatMul")[0]
    final = f"model.layers.{LAYERS}.final_norm_layernorm.weight"
    outs = node("SkipSimplifiedLayerNormalization", [down, residual, init(final, sd["model.norm.weight"])],
                [f"/model/layers.{LAYERS}/final_norm_layernorm/output", "", "", ""],
                f"/model/layers.{LAYERS}/final_norm_layernorm/SkipLayerNorm", "com.microsoft", epsilon=EPS)
    node("MatMul", [outs[0], init("lm_head.MatMul.weight", sd["model.embed_tokens.weight"].T)], ["logits"],
         "/lm_head/MatMul")
    graph = helper.make_graph(nodes, "main_graph", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    onnx.save(model, os.path.join(folder, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=0)
    config = {"model": {"bos_token_id": 2, "context_length": max_positions, "decoder": {
        "session_options": {"provider_options": []}, "filename": "model.onnx", "head_size": HEAD,
        "hidden_size": HIDDEN, "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                                          "past_key_names": "past_key_values.%d.key",
                                          "past_value_names": "past_key_values.%d.value"},
        "outputs": {"logits": "logits", "present_key_names": "present.%d.key", "present_value_names": "present.%d.value"},
        "num_attention_heads": HEADS, "num_hidden_layers": LAYERS, "num_key_value_heads": KV_HEADS},
        "eos_token_id": 0, "pad_token_id": 0, "type": "llama", "vocab_size": VOCAB}}
    with open(os.path.join(folder, "genai_config.json"), "w") as fh:
        json.dump(config, fh, indent=4)
    shutil.copy(os.path.join(HERE, "tokenizer.json"), os.path.join(folder, "tokenizer.json"))


def main():
    write_tokenizer(os.path.join(HERE, "tokenizer.json"))
    train_lines, test_lines = {}, {}
    for d in DOMAINS:
        train_lines[d], test_lines[d] = corpus(d)
        with open(os.path.join(HERE, f"{d}_test.txt"), "w") as f:
            f.write("\n".join(test_lines[d]) + "\n")
    mixed = [l for d in DOMAINS for l in train_lines[d][:3000]]
    torch.manual_seed(0)
    base = Llama()
    loss = train(base, mixed, 1500, 0, 3e-3)
    print(f"base: loss {loss:.3f}")
    nets = {"base": base}
    for k, d in enumerate(DOMAINS):
        tuned = Llama()
        tuned.load_state_dict(base.state_dict())
        loss = train(tuned, train_lines[d], 400, k + 1, 1e-3)
        print(f"{d}: loss {loss:.3f}")
        nets[d] = tuned
    ids, mask, positions = test_tokens()
    np.save(os.path.join(HERE, "tokens.npy"), ids)
    for name, net in nets.items():
        net.eval()
        with torch.no_grad():
            logits = net(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(positions))[0]
        np.save(os.path.join(HERE, f"logits_{name}.npy"), logits.numpy().astype(np.float32))
        export(net, os.path.join(HERE, "optimum", name, "model.onnx"))
    genai(base, os.path.join(HERE, "genai", "base"))
    genai(nets["licence"], os.path.join(HERE, "genai", "licence"))
    save_checkpoint(nets["licence"], os.path.join(HERE, "checkpoints", "licence"))
    save_checkpoint(nets["c"], os.path.join(HERE, "checkpoints", "c_sharded"), shards=2)
    untied = Llama(tied=False)
    state = dict(base.state_dict())
    state["lm_head.weight"] = state["model.embed_tokens.weight"].clone()
    untied.load_state_dict(state)
    untied.eval()
    export(untied, os.path.join(HERE, "untied", "model.onnx"))
    export(base, os.path.join(HERE, "no_cache", "model.onnx"), with_past=False, present=False)
    os.makedirs(os.path.join(HERE, "fp16"), exist_ok=True)
    to_float16(os.path.join(HERE, "optimum", "base", "model.onnx"), os.path.join(HERE, "fp16", "model.onnx"))
    export(base, os.path.join(HERE, "no_past", "model.onnx"), with_past=False, present=True)
    merged_decoder(os.path.join(HERE, "optimum", "base", "model.onnx"), os.path.join(HERE, "no_past", "model.onnx"),
                   os.path.join(HERE, "legacy", "decoder_model_merged.onnx"))
    shutil.rmtree(os.path.join(HERE, "no_past"))
    for name in ["base", "licence"]:
        to_int4(os.path.join(HERE, "optimum", name, "model.onnx"), os.path.join(HERE, "int4", name, "model.onnx"))
    external = os.path.join(HERE, "external")
    shutil.rmtree(external, ignore_errors=True)
    os.makedirs(external)
    onnx.save(onnx.load(os.path.join(HERE, "optimum", "base", "model.onnx")), os.path.join(external, "model.onnx"),
              save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data",
              size_threshold=0)
    olive_slots(os.path.join(HERE, "optimum", "base", "model.onnx"), os.path.join(HERE, "olive", "model.onnx"))
    for name in ["base", "licence"]:
        to_int4(os.path.join(HERE, "optimum", name, "model.onnx"), os.path.join(HERE, "int4_hqq", name, "model.onnx"),
                hqq=True)
    for name in ["base", "licence"]:
        genai_int4(os.path.join(HERE, "genai", name), os.path.join(HERE, "genai_int4", name))


if __name__ == "__main__":
    if sys.argv[1:] == ["olive"]:  # only the Olive-style model, from the committed Optimum export of the base
        olive_slots(os.path.join(HERE, "optimum", "base", "model.onnx"), os.path.join(HERE, "olive", "model.onnx"))
    elif sys.argv[1:] == ["int4-hqq"]:  # only the HQQ int4 models, from the committed Optimum exports
        for name in ["base", "licence"]:
            to_int4(os.path.join(HERE, "optimum", name, "model.onnx"), os.path.join(HERE, "int4_hqq", name, "model.onnx"),
                    hqq=True)
    elif sys.argv[1:] == ["genai-int4"]:  # only the int4 GenAI builds, from the committed float ones
        for name in ["base", "licence"]:
            genai_int4(os.path.join(HERE, "genai", name), os.path.join(HERE, "genai_int4", name))
    else:
        main()
