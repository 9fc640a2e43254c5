"""A small synthetic parallel corpus, generated on the spot, for the quick start and the tests.

The source side is English-like sentences from a tiny grammar; the target side is an
invented language with its own words, adjectives after nouns and the verb last. Learning
it needs the same things real translation needs (a lexicon, reordering, agreement of
the sentence's parts), at a size two CPU cores learn in a minute or two.
"""
import random
from pathlib import Path

from nmt import atomic

LEXICON = {  # source word -> target word
    "the": "lo", "a": "na", "my": "mi", "every": "oko",
    "dog": "vasku", "cat": "mireli", "child": "tuno", "woman": "saleva", "man": "doro", "bird": "pipa",
    "teacher": "ramesi", "farmer": "kelbo", "horse": "hanu", "friend": "amiko",
    "ball": "pelota", "house": "kasa", "tree": "arbo", "river": "fluvo", "book": "libro", "garden": "gardo",
    "small": "eta", "big": "grava", "red": "ruja", "old": "malna", "happy": "gaja", "quiet": "kvieta",
    "sees": "vidas", "finds": "trovas", "likes": "satas", "follows": "sekvas", "draws": "desegnas",
    "carries": "portas", "near": "apud", "behind": "malantau", "in": "ena", "under": "sub",
    "today": "hodiau", "again": "denove", "quickly": "rapide",
}
DETERMINERS = ["the", "a", "my", "every"]
NOUNS = ["dog", "cat", "child", "woman", "man", "bird", "teacher", "farmer", "horse", "friend",
         "ball", "house", "tree", "river", "book", "garden"]
ADJECTIVES = ["small", "big", "red", "old", "happy", "quiet"]
VERBS = ["sees", "finds", "likes", "follows", "draws", "carries"]
PREPOSITIONS = ["near", "behind", "in", "under"]
ADVERBS = ["today", "again", "quickly"]


def _noun_phrase(rng):
    """(source words, target words): 'the big dog' -> 'lo vasku grava' (adjective after the noun)."""
    det, noun = rng.choice(DETERMINERS), rng.choice(NOUNS)
    adjectives = rng.sample(ADJECTIVES, rng.choice([0, 0, 1, 1, 2]))
    src = [det, *adjectives, noun]
    tgt = [LEXICON[det], LEXICON[noun], *(LEXICON[a] for a in adjectives)]
    return src, tgt


def sentence_pair(rng):
    """Subject-verb-object (+ place) (+ adverb) -> subject-object (+ place) (+ adverb)-verb."""
    subject, obj = _noun_phrase(rng), _noun_phrase(rng)
    verb = rng.choice(VERBS)
    src, tgt = subject[0] + [verb] + obj[0], subject[1] + obj[1]
    if rng.random() < 0.4:
        prep, place = rng.choice(PREPOSITIONS), _noun_phrase(rng)
        src, tgt = src + [prep] + place[0], tgt + [LEXICON[prep]] + place[1]
    if rng.random() < 0.3:
        adverb = rng.choice(ADVERBS)
        src, tgt = src + [adverb], tgt + [LEXICON[adverb]]
    tgt.append(LEXICON[verb])
    return " ".join(src).capitalize() + ".", " ".join(tgt).capitalize() + "."


def write_toy_corpus(directory, sizes=None, seed=1, src_lang="en", tgt_lang="toy"):
    """Write {split}.{lang} files of distinct sentence pairs; returns the directory."""
    sizes = sizes or {"train": 8000, "val": 300, "test": 300}
    rng = random.Random(seed)
    seen, directory = set(), Path(directory)
    for split, n in sizes.items():
        pairs = []
        while len(pairs) < n:
            pair = sentence_pair(rng)
            if pair[0] not in seen:  # no test sentence was seen in training
                seen.add(pair[0])
                pairs.append(pair)
        atomic.write_text(directory / f"{split}.{src_lang}", "".join(s + "\n" for s, _ in pairs))
        atomic.write_text(directory / f"{split}.{tgt_lang}", "".join(t + "\n" for _, t in pairs))
    return directory
