"""Batched beam search with a length penalty and n-best lists.

Rows of the decoding state are (sentence, beam) pairs, sentence-major. Each step
scores every continuation of every live beam, takes the 2K best per sentence, moves
the EOS-ending ones among the K best to that sentence's finished list and keeps the
K best others as the new beams. A sentence leaves the batch once it has K finished
hypotheses or reaches its length cap, so long sentences never slow down short ones.
"""
from dataclasses import dataclass

import torch

from nmt.decode.penalties import length_penalty, max_output_lengths
from nmt.decode.rules import SearchRules
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Hypothesis:
    tokens: list       # EOS excluded
    score: float       # log_prob / length_penalty: what hypotheses are ranked by
    log_prob: float    # sum of token log-probabilities, EOS included


def beam_search(model, src, beam, lenpen, max_len_a, max_len_b, n_best=1, rules=SearchRules(), length_norm="gnmt"):
    """n_best Hypotheses per source row, best first (by log-probability over `length_norm`'s penalty)."""
    with model.generation_mode():
        batch, device = src.size(0), src.device
        limits = max_output_lengths((src != PAD_ID).sum(1), max_len_a, max_len_b, model.max_positions)
        state = model.reorder_state(model.encode(src), torch.arange(batch, device=device).repeat_interleave(beam))
        search = _BeamState(batch, beam, device, lambda n: length_penalty(n, lenpen, length_norm))
        finished = [[] for _ in range(batch)]
        cap = limits.tolist()  # on the CPU: which sentences are done is decided there, with one read a step
        for step in range(max(cap) + 1):
            log_probs, state = model.decode_step(search.prefixes[:, -1], state)
            at_limit = (limits[search.sentences] == step).repeat_interleave(beam)
            rows = search.advance(rules.apply(log_probs, search.prefixes, step, at_limit), step, finished)
            state = model.reorder_state(state, rows)
            done = [len(finished[s]) >= beam or cap[s] == step for s in search.sentences.tolist()]
            if all(done):
                break
            if any(done):
                state = model.reorder_state(state, search.drop(torch.tensor(done, device=device)))
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]


class _BeamState:
    """The live beams: prefixes (rows, t+1), cumulative scores (sentences, K), sentence ids."""

    def __init__(self, batch, beam, device, penalty):
        self.beam, self.penalty = beam, penalty  # penalty(length with EOS) divides a finished log-probability
        self.sentences = torch.arange(batch, device=device)
        self.prefixes = torch.full((batch * beam, 1), BOS_ID, dtype=torch.long, device=device)
        self.scores = torch.zeros(batch, beam, device=device)
        self.scores[:, 1:] = float("-inf")  # all beams start identical: only the first is live

    def advance(self, log_probs, step, finished):
        """Extend the beams by one token; returns the state rows the new beams come from."""
        n, k = self.scores.shape
        vocab = log_probs.size(-1)
        candidates = (self.scores.reshape(-1, 1) + log_probs).view(n, k * vocab)
        top_scores, top_index = candidates.topk(2 * k, dim=1)
        top_beam, top_token = top_index // vocab, top_index % vocab
        is_eos = top_token == EOS_ID
        self._finish(is_eos[:, :k] & top_scores[:, :k].isfinite(), top_scores, top_beam, step, finished)
        # the K best candidates that do not end: rank EOS candidates after all others
        order = (is_eos.long() * 2 * k + torch.arange(2 * k, device=is_eos.device)).argsort(dim=1)[:, :k]
        rows = (torch.arange(n, device=is_eos.device)[:, None] * k + top_beam.gather(1, order)).view(-1)
        self.prefixes = torch.cat([self.prefixes[rows], top_token.gather(1, order).view(-1, 1)], dim=1)
        self.scores = top_scores.gather(1, order)
        return rows

    def _finish(self, ends, top_scores, top_beam, step, finished):
        """Add the candidates marked in `ends` (sentences, K) to their sentences' finished lists. What they need
        comes to the CPU in a few reads a step, not a few per hypothesis: on a GPU each read is a wait."""
        penalty = float(self.penalty(torch.tensor(step + 1.0)))
        i, j = ends.nonzero().unbind(1)
        sentences = self.sentences[i].tolist()
        prefixes = self.prefixes[i * self.beam + top_beam[i, j], 1:].tolist()
        for sentence, tokens, log_prob in zip(sentences, prefixes, top_scores[i, j].tolist()):
            if len(finished[sentence]) < self.beam:
                finished[sentence].append(Hypothesis(tokens, log_prob / penalty, log_prob))

    def drop(self, done):
        """Remove finished sentences; returns the state rows that stay."""
        keep = (~done).nonzero().squeeze(1)
        rows = (keep[:, None] * self.beam + torch.arange(self.beam, device=keep.device)).view(-1)
        self.sentences, self.scores, self.prefixes = self.sentences[keep], self.scores[keep], self.prefixes[rows]
        return rows
