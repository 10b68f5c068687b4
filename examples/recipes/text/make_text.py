#!/usr/bin/python3
"""Text for calibrating and evaluating text models offline, from the Python standard library's docstrings.

Writes, into this folder:
  - sentences.txt: 1024 sentences, one per line (calibration data);
  - sentences_2000.txt: the same 1024 and the next 976 (calibration data for PLeaS on text models);
  - retrieval.tsv: 400 pairs "query<TAB>document": the first sentence of a docstring, and the rest of it (a
    small retrieval set: each query's answer is its own document among all 400);
  - heldout.txt: up to 1024 sentences from the docstrings after the last one retrieval.tsv uses, none of them
    found in retrieval.tsv (calibration data for data-aware fits that are then evaluated on retrieval.tsv).
Deterministic for a given Python version (modules and members visited in sorted order). The committed
sentences.txt and retrieval.tsv come from Python 3.11.2, sentences_2000.txt from 3.11.7, whose docstrings differ
in a few places: run with --only-2000 to rewrite sentences_2000.txt alone, or --only-heldout for heldout.txt
(from 3.11.2).

Usage: /usr/bin/python3 make_text.py [--only-2000 | --only-heldout]
"""
import importlib
import inspect
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = sorted(m for m in sys.stdlib_module_names if not m.startswith("_") and m not in (
    "antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle", "ensurepip", "venv", "lib2to3", "pydoc_data"))


def clean(text):
    return re.sub(r"\s+", " ", text).strip()


docs = []
for name in MODULES:
    try:
        module = importlib.import_module(name)
    except Exception:
        continue
    for member_name, member in sorted(inspect.getmembers(module), key=lambda x: x[0]):
        if member_name.startswith("_") or not (inspect.isfunction(member) or inspect.isclass(member)):
            continue
        doc = inspect.getdoc(member)
        if doc and len(doc) > 120 and not doc.startswith(member_name + "("):
            docs.append(doc)

seen = set()
sentences = []
pairs = []
last_pair_doc = -1
for index, doc in enumerate(docs):
    parts = re.split(r"(?<=[.!?])\s+", clean(doc))
    for sentence in parts:
        if 40 <= len(sentence) <= 300 and sentence not in seen and len(sentences) < 2000:
            seen.add(sentence)
            sentences.append(sentence)
    first, rest = parts[0], " ".join(parts[1:])
    if 30 <= len(first) <= 200 and len(rest) >= 80 and len(pairs) < 400 and first not in {p[0] for p in pairs}:
        pairs.append((first, rest[:600]))
        last_pair_doc = index

heldout = []
evaluation_text = "\n".join(q + "\t" + d for q, d in pairs)
for doc in docs[last_pair_doc + 1:]:
    for sentence in re.split(r"(?<=[.!?])\s+", clean(doc)):
        if 40 <= len(sentence) <= 300 and sentence not in heldout and len(heldout) < 1024 \
                and sentence not in evaluation_text:
            heldout.append(sentence)
if "--only-heldout" in sys.argv:
    with open(os.path.join(HERE, "heldout.txt"), "w") as f:
        f.write("\n".join(heldout) + "\n")
    print(len(heldout), "held-out sentences")
    sys.exit(0)

with open(os.path.join(HERE, "sentences_2000.txt"), "w") as f:
    f.write("\n".join(sentences) + "\n")
if "--only-2000" not in sys.argv:
    with open(os.path.join(HERE, "sentences.txt"), "w") as f:
        f.write("\n".join(sentences[:1024]) + "\n")
    with open(os.path.join(HERE, "retrieval.tsv"), "w") as f:
        for q, d in pairs:
            f.write(q.replace("\t", " ") + "\t" + d.replace("\t", " ") + "\n")
print(len(sentences), "sentences,", len(pairs), "retrieval pairs")
