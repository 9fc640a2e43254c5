"""Corpus statistics of `nmt preprocess`: what the cleaning dropped and how the tokenizer segments.

Per split: pairs kept, pairs dropped per reason, exact duplicate pairs; per side: sentences, words
(space-separated, after normalisation), subword tokens (without BOS/EOS), tokens per sentence
(mean, 95th percentile by nearest rank, max), subwords per word and the share of <unk> tokens.
"""
import numpy as np

from nmt.tokenize.base import UNK_ID


def _ratio(part, whole):
    return part / whole if whole else 0.0


class SideCounts:
    """What the statistics of one side of a split are computed from, counted a chunk of sentences at a time
    and merged: sentences, words, unknown tokens and a histogram of token lengths (the mean, 95th percentile
    and maximum come from it), so a corpus of any size is summed in little memory."""

    def __init__(self):
        self.sentences = self.words = self.unknown = 0
        self.length_counts = np.zeros(1, dtype=np.int64)  # [k]: sentences of k tokens

    @classmethod
    def of(cls, sentences, ids, lengths):
        """The counts of `sentences` (normalised text), their flat token `ids` and each one's token count."""
        counts = cls()
        counts.sentences, counts.words = len(sentences), sum(len(s.split()) for s in sentences)
        counts.unknown = int(np.count_nonzero(ids == UNK_ID))
        counts.length_counts = np.bincount(lengths, minlength=1).astype(np.int64)
        return counts

    def add(self, other):
        self.sentences, self.words, self.unknown = (self.sentences + other.sentences, self.words + other.words,
                                                    self.unknown + other.unknown)
        size = max(len(self.length_counts), len(other.length_counts))
        self.length_counts = (np.pad(self.length_counts, (0, size - len(self.length_counts)))
                              + np.pad(other.length_counts, (0, size - len(other.length_counts))))
        return self

    def stats(self):
        lengths = np.arange(len(self.length_counts))
        tokens = int(self.length_counts @ lengths)
        seen = np.flatnonzero(self.length_counts)
        # nearest rank: the smallest length that at least 95 % of the sentences do not exceed
        p95 = int(np.searchsorted(np.cumsum(self.length_counts), 0.95 * self.sentences)) if self.sentences else 0
        return {
            "sentences": self.sentences,
            "words": self.words,
            "subwords": tokens,
            "tokens_per_sentence": {
                "mean": _ratio(tokens, self.sentences),
                "p95": p95,
                "max": int(seen[-1]) if len(seen) else 0,
            },
            "subwords_per_word": _ratio(tokens, self.words),
            "unknown_rate": _ratio(self.unknown, tokens),
        }


def split_stats(pairs, distinct_pairs, dropped, src, tgt):
    """Statistics of a split: its pair count, distinct pairs, the drop counts and each side's SideCounts."""
    return {
        "pairs": pairs,
        "dropped": dict(sorted(dropped.items())),
        "duplicate_pairs": pairs - distinct_pairs,
        "src": src.stats(),
        "tgt": tgt.stats(),
    }


def format_table(stats):
    """A short plain-text table of `{split: split_stats}`, one row per split and side."""
    header = (f"{'split':<8}{'side':<5}{'sentences':>10}{'words':>11}{'subwords':>11}"
              f"{'tok/sent':>9}{'p95':>6}{'max':>6}{'subw/word':>10}{'unk %':>8}")
    rows = [header]
    for split, s in stats.items():
        for side in ("src", "tgt"):
            d, t = s[side], s[side]["tokens_per_sentence"]
            rows.append(f"{split:<8}{side:<5}{d['sentences']:>10}{d['words']:>11}{d['subwords']:>11}"
                        f"{t['mean']:>9.1f}{t['p95']:>6}{t['max']:>6}{d['subwords_per_word']:>10.2f}"
                        f"{100 * d['unknown_rate']:>8.2f}")
    for split, s in stats.items():
        drops = ", ".join(f"{n} {why}" for why, n in s["dropped"].items()) or "none"
        rows.append(f"{split}: {s['pairs']} pairs; dropped: {drops}; exact duplicate pairs: {s['duplicate_pairs']}")
        if "subsample" in s:
            sub = s["subsample"]
            rows.append(f"{split}: data.train_words {sub['train_words']} (seed {sub['seed']}) kept {sub['pairs']} of "
                        f"{sub['of_pairs']} cleaned pairs, {sub['words']} source words")
    return rows
