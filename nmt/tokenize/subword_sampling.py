"""Random segmentations over a sentencepiece model's pieces, drawn from a numpy generator.

sentencepiece samples too (`enable_sampling`), but its generator is salted once per process: the
same seed gives other draws in another process, so a resumed run could not re-create an epoch.
These samplers follow sentencepiece's algorithms on its own pieces and scores:

- BPE-dropout (Provilkov et al. 2020): merge the adjacent pair whose merged piece scores highest
  (the leftmost on a tie), as sentencepiece's BPE does, but skip each merge with probability
  alpha; a skipped pair is not proposed again. With alpha 0 this is sentencepiece's encoding.
- Unigram sampling (Kudo 2018): a segmentation drawn with probability proportional to
  exp(alpha * sum of its pieces' log-probabilities), by forward filtering and backward sampling
  over the lattice of pieces; a character no piece covers is an unknown node scored as sentencepiece
  scores it (the lowest piece score minus 10).

Pieces never cross a word boundary (sentencepiece's split_by_whitespace), so each word ("▁" and
the characters up to the next space) is segmented alone. Unknown characters are spelt as their
UTF-8 bytes (byte fallback), as sentencepiece does.
"""
import math

from sentencepiece import sentencepiece_model_pb2

WORD_BOUNDARY = "\u2581"  # "▁", sentencepiece's mark for the space before a word
NORMAL, BYTE = 1, 6  # sentencepiece's piece types of text pieces and byte pieces (nmt defines no others)
UNKNOWN_PENALTY = 10.0  # sentencepiece's kUnkPenalty


class PieceSampler:
    """Random segmentations of text into a sentencepiece model's ids (model types bpe and unigram)."""

    def __init__(self, model_proto: bytes):
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(model_proto)
        self.bpe = proto.trainer_spec.model_type == sentencepiece_model_pb2.TrainerSpec.BPE  # else unigram
        self.scores = {p.piece: p.score for p in proto.pieces if p.type == NORMAL}
        self.ids = {p.piece: i for i, p in enumerate(proto.pieces) if p.type == NORMAL}
        self.byte_ids = {p.piece: i for i, p in enumerate(proto.pieces) if p.type == BYTE}  # "<0x41>" -> id
        self.longest = max(map(len, self.scores))
        self.unknown_score = min(self.scores.values()) - UNKNOWN_PENALTY

    def sample(self, text, alpha, rng):
        """The ids of one random segmentation of `text` (normalised: single spaces, no outer spaces)."""
        segment = self.bpe_dropout if self.bpe else self.unigram
        ids = []
        for word in text.split(" ") if text else []:
            for piece in segment(WORD_BOUNDARY + word, alpha, rng):
                ids += [self.ids[piece]] if piece in self.ids else self.bytes_of(piece)
        return ids

    def bytes_of(self, piece):
        return [self.byte_ids[f"<0x{b:02X}>"] for b in piece.encode("utf-8")]

    def bpe_dropout(self, word, alpha, rng):
        bounds = list(range(len(word) + 1))  # the pieces are word[bounds[k]:bounds[k + 1]]
        skipped = set()  # (start, middle, end) of merges drawn to be skipped
        while True:
            best, best_score = None, None
            for k in range(len(bounds) - 2):
                merge = (bounds[k], bounds[k + 1], bounds[k + 2])
                score = self.scores.get(word[merge[0]:merge[2]])
                if score is not None and merge not in skipped and (best is None or score > best_score):
                    best, best_score = k, score
            if best is None:
                return [word[a:b] for a, b in zip(bounds, bounds[1:])]
            if alpha and rng.random() < alpha:
                skipped.add((bounds[best], bounds[best + 1], bounds[best + 2]))
            else:
                del bounds[best + 1]

    def unigram(self, word, alpha, rng):
        n = len(word)
        ending = [[] for _ in range(n + 1)]  # ending[j]: (start, weight) of the lattice's pieces word[start:j]
        for start in range(n):
            single = False
            for end in range(start + 1, min(n, start + self.longest) + 1):
                score = self.scores.get(word[start:end])
                if score is not None:
                    ending[end].append((start, alpha * score))
                    single = single or end == start + 1
            if not single:
                ending[start + 1].append((start, alpha * self.unknown_score))
        forward = [0.0] * (n + 1)  # forward[j]: log of the summed weight of the segmentations of word[:j]
        for end in range(1, n + 1):
            forward[end] = _log_sum_exp([forward[start] + w for start, w in ending[end]])
        pieces, end = [], n
        while end > 0:  # draw the last piece given everything before it, then the one before it, ...
            threshold, total = rng.random(), 0.0
            for start, w in ending[end]:
                total += math.exp(forward[start] + w - forward[end])
                if total > threshold:
                    break
            pieces.append(word[start:end])
            end = start
        return pieces[::-1]


def _log_sum_exp(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
