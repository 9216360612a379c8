"""Text from a character n-gram model counted from CPython's own documentation.

``model.json.gz`` holds, for every context of up to ``order - 1`` characters seen in
``pydoc_data.topics`` (the language reference as ``help()`` shows it), which characters followed
it and how often; ``training/text_ngram/train.py`` rebuilds it with the standard library alone.
Writing backs off to the longest stored suffix of the text so far, so any prompt works, even one
whose characters the corpus never had. It sounds like a Python manual that lost the thread.

- ``generate``: ``prompt`` plus ``length`` new characters. ``temperature`` below 1 sticks to the
  likeliest continuations (0.1 is nearly greedy), above 1 flattens them (2 wanders, with more odd words).
  The same inputs and ``seed`` always give the same text.
- ``stream``: the same, as a generator command yielding the growing text word by word; over
  HTTP the full text comes back, streams get every step.

The setup option ``order`` uses shorter contexts than the file has: lower is wilder.
"""

from __future__ import annotations

import bisect
import gzip
import json
import random
from collections.abc import Iterator
from pathlib import Path

from runway_bridge import command, number, run, setup, text

HERE = Path(__file__).resolve().parent
MODEL_FILE = HERE / "model.json.gz"
MAX_ORDER = 7  # the order the committed file was counted with
YIELD_EVERY = 24  # `stream` yields at least this often (characters) when no word ends


class CharNGram:
    """Longest-suffix backoff sampler over stored character counts."""

    def __init__(self, path: Path = MODEL_FILE, order: int | None = None):
        doc = json.loads(gzip.decompress(path.read_bytes()))
        self.file_order = int(doc["order"])
        self.order = min(int(order or self.file_order), self.file_order)
        self.python = doc.get("python")
        self.contexts: dict[str, list] = doc["contexts"]

    def next_counts(self, history: str) -> tuple[str, list[int]]:
        """The characters seen after the longest stored suffix of `history`, and their counts."""
        ctx = history[len(history) - self.order + 1 :] if self.order > 1 else ""
        while ctx not in self.contexts:
            ctx = ctx[1:]
        return self.contexts[ctx]

    def chars(self, prompt: str, length: int, temperature: float, seed: int) -> Iterator[str]:
        """Yield `length` characters following `prompt`, deterministically for a seed."""
        rng = random.Random(seed)
        history = prompt[-(self.order - 1) :] if self.order > 1 else ""
        inv_t = 1.0 / temperature
        for _ in range(length):
            chars, counts = self.next_counts(history)
            top = max(counts)
            cum, total = [], 0.0
            for n in counts:
                total += (n / top) ** inv_t  # divide by the largest first: no overflow at low T
                cum.append(total)
            ch = chars[min(bisect.bisect_right(cum, rng.random() * total), len(chars) - 1)]
            history = (history + ch)[-(self.order - 1) :] if self.order > 1 else ""
            yield ch

    def generate(self, prompt: str, length: int, temperature: float = 1.0, seed: int = 0) -> str:
        return prompt + "".join(self.chars(prompt, length, temperature, seed))


@setup(
    options={
        "order": number(
            default=MAX_ORDER,
            min=1,
            max=MAX_ORDER,
            step=1,
            description="Characters of context + 1; lower gives wilder text.",
        )
    }
)
def load(opts):
    return CharNGram(order=int(opts["order"]))


INPUTS = {
    "prompt": text(default="The ", max_length=2000, description="Text to continue; kept at the start of the output."),
    "length": number(default=200, min=1, max=2000, step=1, description="Characters to add."),
    "temperature": number(default=0.8, min=0.1, max=2, step=0.05, description="Below 1: safer; above 1: wilder."),
    "seed": number(default=0, min=0, max=2**31 - 1, step=1, description="Same seed, same text."),
}


@command("generate", inputs=INPUTS, outputs={"text": text()}, description="Continue the prompt by `length` characters.")
def generate(model: CharNGram, inputs):
    return {
        "text": model.generate(
            inputs["prompt"], int(inputs["length"]), float(inputs["temperature"]), int(inputs["seed"])
        )
    }


@command(
    "stream",
    inputs=INPUTS,
    outputs={"text": text()},
    description="Like generate, yielding the growing text word by word (a generator command).",
)
def stream(model: CharNGram, inputs):
    out = inputs["prompt"]
    since = 0
    for ch in model.chars(out, int(inputs["length"]), float(inputs["temperature"]), int(inputs["seed"])):
        out += ch
        since += 1
        if ch.isspace() or since >= YIELD_EVERY:
            yield {"text": out}
            since = 0
    if since:
        yield {"text": out}


if __name__ == "__main__":
    run()
