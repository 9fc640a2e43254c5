"""`data.train_words`: a seeded subset of the training pairs with N source words, recorded by preprocess."""
import json
import random

from conftest import tiny_config
from nmt.data.corpus import ParallelText
from nmt.data.preprocess import preprocess
from nmt.data.subsample import subsample


def corpus(pairs=500, seed=0):
    rng = random.Random(seed)
    src = [" ".join(f"w{rng.randrange(50)}" for _ in range(rng.randint(1, 30))) for _ in range(pairs)]
    return ParallelText(src, [f"target {i}" for i in range(pairs)])


def words(text):
    return sum(len(s.split()) for s in text.src)


def test_subset_hits_n_source_words_within_one_sentence():
    text = corpus()
    for n in (1, 37, 500, 2000):
        subset = subsample(text, n, seed=3)
        longest = max(len(s.split()) for s in subset.src)
        assert n <= words(subset) < n + longest
        assert set(zip(subset.src, subset.tgt)) <= set(zip(text.src, text.tgt))  # pairs stay pairs
        order = [text.tgt.index(t) for t in subset.tgt]
        assert order == sorted(order)  # kept in corpus order


def test_same_seed_same_subset_another_seed_another():
    text = corpus()
    assert subsample(text, 1000, seed=1) == subsample(text, 1000, seed=1)
    assert subsample(text, 1000, seed=1) != subsample(text, 1000, seed=2)


def test_a_smaller_subset_is_part_of_a_larger_one_and_too_many_words_keep_all():
    text = corpus()
    assert set(subsample(text, 300, seed=5).tgt) <= set(subsample(text, 3000, seed=5).tgt)
    assert subsample(text, words(text) + 1, seed=5) == text


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
