"""`nmt preprocess` streams the training split in chunks through worker processes: the same run directory
as in one piece, in memory that does not grow with the corpus."""
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_config
from nmt.data import dataset, preprocess as preprocess_module
from nmt.data.batching import TokenBatchSampler
from nmt.data.preprocess import preprocess
from nmt.data.resegment import StoredPairs
from nmt.data.stats import SideCounts
from nmt.data.toy import sentence_pair


def run_directory_contents(run):
    """What training reads of a run directory: ids and offsets, statistics, the manifest's hashes."""
    manifest = json.loads((run / "manifest.json").read_text())
    arrays = {path.name: np.load(path) for path in sorted((run / "data").glob("*.npy"))}
    return arrays, json.loads((run / "stats.json").read_text()), manifest["files"]


@pytest.mark.parametrize("settings", [[], ["data.train_words=900", "tokenizer.joint=false"]])
def test_chunks_and_workers_give_the_run_directory_of_one_piece(toy_corpus, tmp_path, monkeypatch, settings):
    """Chunks of 7 pairs over 2 worker processes against one chunk in this process: the same ids, offsets,
    statistics, tokenizer files and text (by their hashes), hence the same training batches."""
    cfg = tiny_config(toy_corpus, *settings)
    preprocess(cfg, tmp_path / "whole", log=lambda line: None, workers=1)
    monkeypatch.setattr(preprocess_module, "CHUNK_PAIRS", 7)
    preprocess(cfg, tmp_path / "chunked", log=lambda line: None, workers=2)
    whole, chunked = (run_directory_contents(tmp_path / name) for name in ("whole", "chunked"))
    assert whole[0].keys() == chunked[0].keys() and len(whole[0]) == 4  # ids and offsets of both sides
    for name in whole[0]:
        assert np.array_equal(whole[0][name], chunked[0][name]), name
    assert whole[1:] == chunked[1:]
    splits = [dataset.load_split(tmp_path / name / "data", "train") for name in ("whole", "chunked")]
    plans = [[batch.tolist() for batch in TokenBatchSampler(StoredPairs(src, tgt), 300, seed=1).batches_of_epoch(0)]
             for src, tgt in splits]
    assert plans[0] == plans[1]


def test_statistics_summed_over_chunks_equal_those_of_the_whole():
    """The mean, nearest-rank 95th percentile and maximum from merged length histograms equal NumPy's on
    the lengths themselves, for every count of sentences around the percentile's rounding."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 19, 20, 21, 39, 40, 41, 100, 977):
        lengths = rng.integers(1, 60, n)
        ids = rng.integers(0, 9, int(lengths.sum())).astype(np.int32)
        sentences = ["w " * int(k) for k in lengths]
        whole = SideCounts.of(sentences, ids, lengths)
        split = n // 3
        parts = SideCounts().add(SideCounts.of(sentences[:split], ids[:lengths[:split].sum()], lengths[:split]))
        parts.add(SideCounts.of(sentences[split:], ids[lengths[:split].sum():], lengths[split:]))
        assert parts.stats() == whole.stats()
        stats = whole.stats()
        assert stats["tokens_per_sentence"]["p95"] == int(np.percentile(lengths, 95, method="inverted_cdf"))
        assert stats["tokens_per_sentence"]["max"] == lengths.max()
        assert stats["unknown_rate"] == pytest.approx(np.count_nonzero(ids == 1) / lengths.sum())


# --- memory -----------------------------------------------------------------------------------------

def write_generated_corpus(directory, pairs, seed=0):
    """`pairs` distinct toy pairs (a counter makes each unique), written as they are made."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "train.en", "w") as src, open(directory / "train.toy", "w") as tgt:
        for i in range(pairs):
            s, t = sentence_pair(rng)
            src.write(f"{s} {i}\n")
            tgt.write(f"{t} {i}\n")
    for split in ("val",):
        (directory / f"{split}.en").write_text("The dog sees a cat.\n")
        (directory / f"{split}.toy").write_text("Lo vasku mireli na vidas.\n")
    return directory


PEAK_RSS = textwrap.dedent("""
    import resource, sys
    from conftest import tiny_config
    from nmt.data.preprocess import preprocess
    cfg = tiny_config(sys.argv[1], "tokenizer.max_sentences=20000")
    preprocess(cfg, sys.argv[2], log=lambda line: None, workers=1)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")

# measured on a 2-core AMD EPYC (2026-12-03): 340, 346 and 351 MiB for 100,000, 200,000 and 400,000 pairs run
# alone, 523 MiB for both sizes inside the whole suite; most of it is the libraries (torch among them)
PEAK_RSS_BOUND_MIB = 1024


def test_peak_memory_of_preprocessing_does_not_grow_with_the_corpus(tmp_path):
    """50,000 and 150,000 generated pairs, each preprocessed in a fresh process: both peaks stay under one
    bound, and three times the pairs add a few MiB (held in Python lists, the corpus would need about
    3 KB a pair: 300 MiB more)."""
    peaks = []
    for pairs in (50_000, 150_000):
        corpus = write_generated_corpus(tmp_path / f"corpus{pairs}", pairs)
        result = subprocess.run([sys.executable, "-c", PEAK_RSS, str(corpus), str(tmp_path / f"run{pairs}")],
                                capture_output=True, text=True, cwd=Path(__file__).parent, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        peaks.append(int(result.stdout.split()[-1]))
    assert max(peaks) < PEAK_RSS_BOUND_MIB, peaks
    assert peaks[1] < peaks[0] + 30, peaks
