"""The character n-gram adapter: seeded, keeps the prompt, writes the corpus's words, backs off.

Measured with the committed model (Python 3.11 corpus), seeds 0-4: 97-99% of the words written at
temperature 0.8 are words of the corpus (the test asks for 60%); the likeliest character is taken
at 96-99.6% of the steps at temperature 0.1 and 71-79% at 2 (the test asks for >= 93% and <= 85%).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runway_bridge.model import load_model

ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "text_ngram" / "model.py"
WORD = re.compile(r"[A-Za-z]+")


@pytest.fixture(scope="module")
def model():
    m = load_model(ADAPTER)
    return m, m.run_setup({})


@pytest.fixture(scope="module")
def vocabulary():
    from pydoc_data.topics import topics

    return set(WORD.findall(" ".join(topics.values())))


def call(model, name="generate", **inputs):
    return model[0].call(model[1], name, inputs)


def known_fraction(text: str, vocabulary: set[str]) -> float:
    words = WORD.findall(text)
    return sum(w in vocabulary for w in words) / len(words)


def likeliest_fraction(ngram, prompt: str, text: str) -> float:
    """How often the written character was (one of) the likeliest after its context."""
    hits, history = 0, prompt
    for ch in text[len(prompt) :]:
        chars, counts = ngram.next_counts(history)
        hits += counts[chars.index(ch)] == max(counts)
        history += ch
    return hits / (len(text) - len(prompt))


def test_output_keeps_the_prompt_and_has_the_asked_length(model):
    out = call(model)["text"]
    assert out.startswith("The ") and len(out) == 4 + 200
    out = call(model, prompt="In Python, ", length=37)["text"]
    assert out.startswith("In Python, ") and len(out) == len("In Python, ") + 37


def test_a_seed_gives_the_same_text_and_another_seed_another(model):
    a = call(model, seed=5, length=300)["text"]
    fresh = load_model(ADAPTER)
    assert call((fresh, fresh.run_setup({})), seed=5, length=300)["text"] == a
    assert call(model, seed=5, length=300)["text"] == a
    assert call(model, seed=6, length=300)["text"] != a


def test_most_words_written_are_words_of_the_corpus(model, vocabulary):
    for seed in range(5):
        text = call(model, seed=seed, length=1000)["text"][4:]
        assert len(WORD.findall(text)) > 100
        assert known_fraction(text, vocabulary) > 0.6


def test_low_temperature_takes_the_likeliest_characters_high_temperature_does_not(model):
    ngram = model[1]

    def mean_likeliest(t):
        return (
            sum(
                likeliest_fraction(ngram, "The ", call(model, temperature=t, seed=s, length=500)["text"])
                for s in range(5)
            )
            / 5
        )

    cold, warm, hot = mean_likeliest(0.1), mean_likeliest(1.0), mean_likeliest(2.0)
    assert cold >= 0.93 and hot <= 0.85 and cold > warm > hot


def test_characters_the_corpus_never_had_back_off_to_shorter_contexts(model, vocabulary):
    prompt = "日本語 ∑ ☃"
    out = call(model, prompt=prompt, length=400, seed=2)["text"]
    assert out.startswith(prompt) and len(out) == len(prompt) + 400
    assert known_fraction(out[len(prompt) :], vocabulary) > 0.6
    assert call(model, prompt="", length=50)["text"]  # an empty prompt starts from the unigram


def test_a_lower_order_writes_fewer_real_words(model, vocabulary):
    m = model[0]
    low = m.run_setup({"order": 2})
    text = call((m, low), seed=0, length=2000)["text"][4:]
    full = call(model, seed=0, length=2000)["text"][4:]
    assert known_fraction(text, vocabulary) < 0.6 < known_fraction(full, vocabulary)


def test_stream_yields_growing_text_ending_with_what_generate_gives(model):
    steps = [s["text"] for s in call(model, "stream", prompt="A ", length=120, seed=3)]
    assert len(steps) > 5
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(steps, steps[1:], strict=False))
    assert steps[-1] == call(model, prompt="A ", length=120, seed=3)["text"]
    m, state = model
    assert m.run_command(state, "stream", {"prompt": "A ", "length": 120, "seed": 3})["text"] == steps[-1]
