#!/usr/bin/env python3
"""Builds five text classification tasks from files on a Debian machine (stdlib only; `lz4` for the package list).

Each task has train/validation/test splits (tsv: label<TAB>text), balanced over its classes, deduplicated (no
text in two splits), seeded:
  licence   the licence family of a DEP-5 `License:` paragraph in /usr/share/doc/*/copyright
            (gpl, lgpl, bsd, permissive: expat/MIT, Apache, ISC, zlib, Boost, curl, X11; a smaller task: 240/60/120)
  source    the kind of text a line comes from: readme (prose in /usr/share/doc/*/README*), changelog (an entry of
            changelog.Debian.gz), manpage (a text line of a man page's source), comment (a Python comment, its '#'
            removed)
  config    the format of a 6-line snippet of a configuration or data file: ini, yaml, json, xml, shell
  arch      whether a Debian package is architecture-independent (Architecture: all) from its description
            (the bookworm package list in /var/lib/apt/lists)
  language  the programming language of a 6-line code snippet: python, c, perl, javascript, tcl
Run: python3 make_tasks.py (rewrites the .tsv files next to it).
"""
import glob
import gzip
import os
import random
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN, VALIDATION, TEST = 400, 100, 200
EXCLUDE = ("/work", "/proc", "/sys", "/tmp")


def clean(text):
    text = re.sub(r"\s+", " ", text).strip()
    return text[:600]


def read(path):
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8", errors="strict") as f:
                return f.read()
        with open(path, encoding="utf-8", errors="strict") as f:
            return f.read()
    except (OSError, UnicodeDecodeError, EOFError):
        return None


def files(pattern):
    return sorted(p for p in glob.glob(pattern, recursive=True)
                  if os.path.isfile(p) and not p.startswith(EXCLUDE))


BY_SUFFIX = {}


def suffixed(*suffixes, under=("/usr", "/etc", "/root/.m2")):
    """Files under the folders whose names end in one of the suffixes (one walk of the file system, cached)."""
    if not BY_SUFFIX:
        for root in ("/usr", "/etc", "/root/.m2"):
            for folder, _, names in os.walk(root):
                for name in names:
                    path = os.path.join(folder, name)
                    if os.path.isfile(path) and not os.path.islink(path):
                        BY_SUFFIX.setdefault(os.path.splitext(name)[1], []).append(path)
    return sorted(p for s in suffixes for p in BY_SUFFIX.get(s, []) if p.startswith(under))


def licence():
    families = [("lgpl", r"^(lgpl|lesser)"), ("gpl", r"^gpl"), ("bsd", r"^bsd"),
                ("permissive", r"^(expat|mit|apache|isc|zlib|bsl|boost|curl|x11)")]
    out = {name: set() for name, _ in families}
    for path in files("/usr/share/doc/*/copyright"):
        text = read(path)
        if not text:
            continue
        for paragraph in re.split(r"\n\s*\n", text):
            m = re.search(r"^License:[ \t]*([^\n]+)\n((?:[ \t].*\n?)+)", paragraph, re.M)
            if not m or " or " in m.group(1) or " and " in m.group(1):
                continue
            name = m.group(1).strip().lower()
            body = clean(" ".join(line.strip() for line in m.group(2).splitlines() if line.strip() != "."))
            if len(body) < 80:
                continue
            for family, pattern in families:
                if re.match(pattern, name):
                    out[family].add(body)
                    break
    return out


def source():
    out = {"readme": set(), "changelog": set(), "manpage": set(), "comment": set()}
    for path in files("/usr/share/doc/*/README*"):
        for line in (read(path) or "").splitlines():
            if len(line) > 50 and re.match(r"^[A-Z][a-z]", line.strip()) and not line.startswith(("#", "  ")):
                out["readme"].add(clean(line))
    for path in files("/usr/share/doc/*/changelog.Debian.gz"):
        for line in (read(path) or "").splitlines():
            if line.startswith("  * ") and len(line) > 40:
                out["changelog"].add(clean(line[4:]))
    for path in files("/usr/share/man/man[1-8]/*.gz")[:3000]:
        for line in (read(path) or "").splitlines():
            if len(line) > 50 and not line.startswith((".", "'", "\\\"")):
                out["manpage"].add(clean(line))
    for path in files("/usr/lib/python3/dist-packages/**/*.py")[:6000]:
        for line in (read(path) or "").splitlines():
            s = line.strip()
            if s.startswith("# ") and len(s) > 45 and not s.startswith(("# -*-", "#!")):
                out["comment"].add(clean(s[2:]))
    return out


def snippets(paths, per_file=3, lines=6, rng=random.Random(0)):
    out = set()
    for path in paths:
        text = read(path)
        if not text:
            continue
        rows = [r for r in text.splitlines() if r.strip()]
        if len(rows) < lines:
            continue
        for _ in range(per_file):
            start = rng.randrange(0, len(rows) - lines + 1)
            snippet = "\n".join(rows[start:start + lines])
            if len(snippet) > 60:
                out.add(clean(snippet.replace("\t", " ")))
    return out


def config():
    return {
        "ini": snippets(suffixed(".ini", ".cfg"), per_file=6),
        "yaml": snippets(suffixed(".yaml", ".yml")[:2000]),
        "json": snippets(suffixed(".json")[:2000]),
        "xml": snippets(suffixed(".xml", under=("/usr", "/etc"))[:2000]),
        "shell": snippets(suffixed(".sh") + files("/etc/init.d/*"), per_file=6),
    }


def language():
    return {
        "python": snippets(suffixed(".py", under=("/usr/lib/python3",))[:3000]),
        "c": snippets(suffixed(".c") + suffixed(".h", under=("/usr/include",))[:2000]),
        "perl": snippets(suffixed(".pl") + suffixed(".pm", under=("/usr/share/perl",))[:1000]),
        "javascript": snippets(suffixed(".js")[:2000]),
        "tcl": snippets(suffixed(".tcl"), per_file=6),
    }


def arch():
    lists = files("/var/lib/apt/lists/*_Packages.lz4")
    text = subprocess.run(["lz4cat"] + lists, check=True, capture_output=True, text=True).stdout
    out = {"all": set(), "specific": set()}
    for stanza in text.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", stanza, re.M))
        m = re.search(r"^Description: (.*(?:\n .*)*)", stanza, re.M)
        if "Architecture" not in fields or not m:
            continue
        description = clean(" ".join(l.strip() for l in m.group(1).splitlines() if l.strip() != "."))
        out["all" if fields["Architecture"] == "all" else "specific"].add(description)
    return out


def write(task, classes, rng, scale=1.0):
    n_train, n_val, n_test = int(TRAIN * scale), int(VALIDATION * scale), int(TEST * scale)
    per_class = (n_train + n_val + n_test) // len(classes)
    splits = {"train": [], "validation": [], "test": []}
    for label in sorted(classes):
        texts = sorted(classes[label])
        if len(texts) < per_class:
            raise SystemExit(f"{task}: class {label} has {len(texts)} texts, needs {per_class}")
        rng.shuffle(texts)
        chosen = texts[:per_class]
        n_train_class = n_train // len(classes)
        n_val_class = n_val // len(classes)
        splits["train"] += [(label, t) for t in chosen[:n_train_class]]
        splits["validation"] += [(label, t) for t in chosen[n_train_class:n_train_class + n_val_class]]
        splits["test"] += [(label, t) for t in chosen[n_train_class + n_val_class:]]
    for name, rows in splits.items():
        rng.shuffle(rows)
        with open(os.path.join(HERE, f"{task}_{name}.tsv"), "w", encoding="utf-8") as f:
            for label, text in rows:
                f.write(f"{label}\t{text}\n")
    print(task, {k: len(v) for k, v in classes.items()}, {k: len(v) for k, v in splits.items()})


if __name__ == "__main__":
    rng = random.Random(14)
    for task, build, scale in [("licence", licence, 0.6), ("source", source, 1), ("config", config, 1),
                               ("arch", arch, 1), ("language", language, 1)]:
        write(task, build(), rng, scale)
