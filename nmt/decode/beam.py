"""Batched beam search with a length penalty and n-best lists.

Rows of the decoding state are (sentence, beam) pairs, sentence-major. Each step
scores every continuation of every live beam, takes the 2K best per sentence, moves
the EOS-ending ones among the K best to that sentence's finished list and keeps the
K best others as the new beams. A sentence leaves the batch once it has K finished
hypotheses or reaches its length cap, so long sentences never slow down short ones.
"""
import torch

from nmt.decode.penalties import length_penalty
from nmt.decode.search import Hypothesis, Search, to_device
from nmt.tokenize.base import EOS_ID


class BeamSearch(Search):
    """n_best Hypotheses a sentence, ranked by log-probability over `length_norm`'s penalty.

    The live beams: prefixes (rows, t+1) and cumulative log-probabilities (sentences, K) on the device;
    the sentence ids and their finished lists on the CPU. Which hypotheses end is read from the device
    once a step (twice when some do)."""

    def __init__(self, beam=5, lenpen=1.0, length_norm="gnmt", n_best=1, **limits):
        super().__init__(**limits)
        self.beam, self.n_best = beam, n_best
        self.penalty = lambda length: length_penalty(length, lenpen, length_norm)  # of a length with EOS

    def start(self, state, caps, device, lines):
        batch = len(caps)
        self.begin(caps, device, rows_per_sentence=self.beam)
        self.scores = torch.zeros(batch, self.beam, device=device)
        self.scores[:, 1:] = float("-inf")  # all beams start identical: only the first is live
        self.finished = [[] for _ in range(batch)]
        return state.reorder(torch.arange(batch, device=device).repeat_interleave(self.beam), beams=self.beam)

    def advance(self, log_probs, step):
        rows = self.extend(log_probs, step)
        done = [len(self.finished[s]) >= self.beam or self.caps[s] == step for s in self.sentences]
        self.done = all(done)
        return self.drop(done, rows) if any(done) and not self.done else rows

    def extend(self, log_probs, step):
        """Extend the beams by one token; returns the state rows the new beams come from."""
        n, k = self.scores.shape
        vocab = log_probs.size(-1)
        candidates = (self.scores.reshape(-1, 1) + log_probs).view(n, k * vocab)
        top_scores, top_index = candidates.topk(2 * k, dim=1)
        top_beam, top_token = top_index // vocab, top_index % vocab
        is_eos = top_token == EOS_ID
        self.finish(is_eos[:, :k] & top_scores[:, :k].isfinite(), top_scores[:, :k], top_beam[:, :k], step)
        # the K best candidates that do not end: rank EOS candidates after all others
        order = (is_eos.long() * 2 * k + torch.arange(2 * k, device=is_eos.device)).argsort(dim=1)[:, :k]
        rows = (torch.arange(n, device=is_eos.device)[:, None] * k + top_beam.gather(1, order)).view(-1)
        self.prefixes = torch.cat([self.prefixes[rows], top_token.gather(1, order).view(-1, 1)], dim=1)
        self.scores = top_scores.gather(1, order)
        return rows

    def finish(self, ends, scores, beams, step):
        """Add the candidates marked in `ends` (sentences, K) to their sentences' finished lists: one read
        brings which ended, with their scores and beams, a second (only when some did) their tokens."""
        ended = torch.stack([scores.masked_fill(~ends, float("nan")), beams.to(scores.dtype)], dim=-1).cpu()
        i, j = ended[..., 0].isnan().logical_not().nonzero().unbind(1)
        if not len(i):
            return
        log_probs, rows = ended[i, j, 0].tolist(), i * self.beam + ended[i, j, 1].long()
        prefixes = self.prefixes[to_device(rows, self.prefixes.device), 1:].tolist()
        penalty = float(self.penalty(torch.tensor(step + 1.0)))
        sentences = [self.sentences[position] for position in i.tolist()]
        for sentence, tokens, log_prob in zip(sentences, prefixes, log_probs):
            if len(self.finished[sentence]) < self.beam:
                self.finished[sentence].append(Hypothesis(tokens, log_prob / penalty, log_prob))

    def drop(self, done, rows):
        """Remove the sentences marked in `done` (a list); returns the part of the state rows `rows` that stays."""
        keep = [i for i, leaves in enumerate(done) if not leaves]
        self.sentences = [self.sentences[i] for i in keep]
        keep = to_device(keep, self.scores.device)
        self.scores = self.scores[keep]
        self.prefixes = self.prefixes.view(len(done), self.beam, -1)[keep].flatten(0, 1)
        return rows.view(len(done), self.beam)[keep].view(-1)

    def results(self):
        return [sorted(hyps, key=lambda h: -h.score)[:self.n_best] for hyps in self.finished]
