"""Corpus statistics of `nmt preprocess`: what the cleaning dropped and how the tokenizer segments.

Per split: pairs kept, pairs dropped per reason, exact duplicate pairs; per side: sentences, words
(space-separated, after normalisation), subword tokens (without BOS/EOS), tokens per sentence
(mean, 95th percentile by nearest rank, max), subwords per word and the share of <unk> tokens.
"""
import numpy as np

from nmt.tokenize.base import UNK_ID


def _ratio(part, whole):
    return part / whole if whole else 0.0


def side_stats(sentences, ids):
    """Statistics of one side of a split: its normalised sentences and their token ids."""
    lengths = np.array([len(seq) for seq in ids], dtype=np.int64)
    words = sum(len(s.split()) for s in sentences)
    tokens = int(lengths.sum())
    unknown = sum(list(seq).count(UNK_ID) for seq in ids)
    return {
        "sentences": len(sentences),
        "words": words,
        "subwords": tokens,
        "tokens_per_sentence": {
            "mean": _ratio(tokens, len(sentences)),
            "p95": int(np.percentile(lengths, 95, method="inverted_cdf")) if len(lengths) else 0,
            "max": int(lengths.max()) if len(lengths) else 0,
        },
        "subwords_per_word": _ratio(tokens, words),
        "unknown_rate": _ratio(unknown, tokens),
    }


def split_stats(text, src_ids, tgt_ids, dropped):
    """Statistics of a split: `text` (ParallelText, normalised) with both sides' ids and the drop counts."""
    return {
        "pairs": len(text.src),
        "dropped": dict(sorted(dropped.items())),
        "duplicate_pairs": len(text.src) - len(set(zip(text.src, text.tgt))),
        "src": side_stats(text.src, src_ids),
        "tgt": side_stats(text.tgt, tgt_ids),
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
