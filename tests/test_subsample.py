"""`data.train_words`: a seeded subset of the training pairs with N source words, recorded by preprocess."""
import json
import random

import numpy as np

from conftest import tiny_config
from nmt.data.preprocess import preprocess, subsample_indices


def corpus(pairs=500, seed=0):
    """Source sentences of 1-30 words (their word counts are what subsampling reads)."""
    rng = random.Random(seed)
    return [" ".join(f"w{rng.randrange(50)}" for _ in range(rng.randint(1, 30))) for _ in range(pairs)]


def word_counts(sentences):
    return np.array([len(s.split()) for s in sentences], dtype=np.int32)


def subsample(sentences, words, seed):
    return [sentences[i] for i in subsample_indices(word_counts(sentences), words, seed)]


def reference_subsample(sentences, words, seed):
    """The rule as a plain loop: shuffle, take pairs until their words reach `words`, keep corpus order."""
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    kept, total = [], 0
    for i in order:
        if total >= words:
            break
        kept.append(i)
        total += len(sentences[i].split())
    return [sentences[i] for i in sorted(kept)]


def test_subset_hits_n_source_words_within_one_sentence():
    text = corpus()
    for n in (1, 37, 500, 2000):
        subset = subsample(text, n, seed=3)
        assert subset == reference_subsample(text, n, seed=3)
        longest = max(len(s.split()) for s in subset)
        assert n <= word_counts(subset).sum() < n + longest
        kept = subsample_indices(word_counts(text), n, seed=3)
        assert list(kept) == sorted(set(kept))  # kept in corpus order, each once


def test_same_seed_same_subset_another_seed_another():
    text = corpus()
    assert subsample(text, 1000, seed=1) == subsample(text, 1000, seed=1)
    assert subsample(text, 1000, seed=1) != subsample(text, 1000, seed=2)


def test_a_smaller_subset_is_part_of_a_larger_one_and_too_many_words_keep_all():
    text = corpus()
    assert set(subsample(text, 300, seed=5)) <= set(subsample(text, 3000, seed=5))
    assert subsample(text, int(word_counts(text).sum()) + 1, seed=5) == text


def test_preprocess_trains_on_the_subset_and_records_it(toy_corpus, tmp_path):
    cfg = tiny_config(toy_corpus, "data.train_words=800", "data.subsample_seed=7")
    lines = []
    info = preprocess(cfg, tmp_path / "run", log=lines.append)
    record = info["subsample"]
    assert record["train_words"] == 800 and record["seed"] == 7 and record["of_pairs"] == 600
    assert 800 <= record["words"] < 800 + 30 and record["pairs"] == info["train_pairs"] < 600
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["train"]["subsample"] == record and stats["train"]["src"]["words"] == record["words"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["subsample"] == record
    assert any("data.train_words 800 (seed 7) kept" in line for line in lines)
