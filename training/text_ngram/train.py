"""Count the character n-grams behind ``adapters/text_ngram`` from CPython's own documentation.

The corpus is ``pydoc_data.topics`` (the text ``help('topics')`` shows: the language reference's
sections, ~465,000 characters), which ships with every CPython, so nothing is downloaded and
no package beyond the standard library is needed.

For every context of 0 to ``order - 1`` characters the file stores which characters followed it
and how often. Contexts seen fewer than ``--min-count`` times are dropped from length
``--prune-from`` up (a context seen once can only copy the corpus, and dropping them halves the
file); the sampler backs off to the longest stored suffix.

Rerun it from the repository root (standard library only, ~5 s)::

    python training/text_ngram/train.py            # writes adapters/text_ngram/model.json.gz
    python training/text_ngram/train.py --check    # rebuild and compare with the committed file

The output is byte for byte the same for the same corpus (keys are sorted and the gzip header
carries no time stamp). ``pydoc_data.topics`` changes between Python releases, so a different
Python rebuilds a slightly different model; the file records the version it came from.

File format (gzipped UTF-8 JSON)::

    {"format": 1, "order": 7, "source": "pydoc_data.topics", "python": "3.11.7",
     "corpus_chars": 465126, "corpus_sha256": "...",
     "contexts": {"": ["abc...", [n, n, ...]], "Th": ["eiar", [812, 95, 14, 3]], ...}}
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "adapters" / "text_ngram" / "model.json.gz"


def corpus() -> str:
    """CPython's pydoc topics, joined in key order with blank lines."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"


def count(text: str, order: int, min_count: int, prune_from: int, quiet: bool) -> dict[str, list]:
    """Context -> [next characters, their counts], for context lengths 0..order-1."""
    table: dict[str, list] = {}
    for k in range(order):
        start = time.perf_counter()
        grams = Counter(text[i : i + k + 1] for i in range(len(text) - k))
        follow: dict[str, dict[str, int]] = {}
        for gram, n in grams.items():
            follow.setdefault(gram[:-1], {})[gram[-1]] = n
        kept = 0
        for ctx, nxt in follow.items():
            if k >= prune_from and sum(nxt.values()) < min_count:
                continue
            chars = sorted(nxt)
            table[ctx] = ["".join(chars), [nxt[c] for c in chars]]
            kept += 1
        if not quiet:
            print(
                f"context length {k}: {len(follow):7d} seen, {kept:7d} kept  ({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
    return table


def build(order: int, min_count: int, prune_from: int, quiet: bool = False) -> bytes:
    text = corpus()
    table = count(text, order, min_count, prune_from, quiet)
    doc = {
        "format": 1,
        "order": order,
        "source": "pydoc_data.topics",
        "python": platform.python_version(),
        "corpus_chars": len(text),
        "corpus_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "contexts": {ctx: table[ctx] for ctx in sorted(table)},
    }
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return gzip.compress(raw, compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--order", type=int, default=7, help="n: contexts of up to n-1 characters")
    ap.add_argument("--min-count", type=int, default=2, help="drop rarer long contexts")
    ap.add_argument("--prune-from", type=int, default=4, help="shortest context length that is pruned")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="do not write; compare with the existing --out file")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    data = build(args.order, args.min_count, args.prune_from, args.quiet)
    print(
        f"built in {time.perf_counter() - start:.1f} s: {len(data) / 1024:.0f} KiB,"
        f" sha256 {hashlib.sha256(data).hexdigest()[:16]}"
    )
    if args.check:
        same = args.out.read_bytes() == data
        print(f"{args.out}: {'identical' if same else 'differs'}")
        if not same:
            old = json.loads(gzip.decompress(args.out.read_bytes()))
            print(f"  committed file came from Python {old['python']}, this is {platform.python_version()}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
