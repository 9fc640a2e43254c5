"""`data.train_words`: train on a seeded random subset of the training pairs with a given number of
source words, for learning curves and low-resource experiments on a larger corpus."""
import random

from nmt.data.corpus import ParallelText


def subsample(text, words, seed):
    """The pairs of `text` (ParallelText) that a seeded shuffle takes until their source words reach
    `words`, kept in corpus order. The last pair taken crosses the mark, so the subset has at least
    `words` source words and fewer than one sentence more (all pairs when the corpus is smaller).
    With one seed the shuffle is the same, so a smaller subset is part of a larger one."""
    order = list(range(len(text.src)))
    random.Random(seed).shuffle(order)
    kept, total = [], 0
    for i in order:
        if total >= words:
            break
        kept.append(i)
        total += len(text.src[i].split())
    kept.sort()
    return ParallelText([text.src[i] for i in kept], [text.tgt[i] for i in kept])
