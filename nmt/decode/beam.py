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
    """n_best Hypotheses per source row, best first (by log-probability over `length_norm`'s penalty).

    What ends when is decided on the CPU, which reads the device once a step (twice when hypotheses end):
    on a GPU each read waits for the queued work, so the loop reads nothing else."""
    with model.generation_mode():
        batch, device = src.size(0), src.device
        cap = max_output_lengths((src != PAD_ID).sum(1), max_len_a, max_len_b, model.max_positions).tolist()
        state = model.encode(src).reorder(torch.arange(batch, device=device).repeat_interleave(beam), beams=beam)
        search = _BeamState(batch, beam, device, lambda n: length_penalty(n, lenpen, length_norm))
        finished = [[] for _ in range(batch)]
        for step in range(max(cap) + 1):
            log_probs, state = model.decode_step(search.prefixes[:, -1], state)
            ending = [cap[s] == step for s in search.sentences]
            at_limit = to_device(ending, device).repeat_interleave(beam) if any(ending) else None
            rows = search.advance(rules.apply(log_probs, search.prefixes, step, at_limit), step, finished)
            done = [len(finished[s]) >= beam or end for s, end in zip(search.sentences, ending)]
            if all(done):
                break
            if any(done):
                rows = search.drop(done, rows)
            state = state.reorder(rows)
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]


def to_device(values, device):
    """A list (or CPU tensor) as a tensor on `device`, without waiting for the work queued there, as a
    blocking copy would."""
    return torch.as_tensor(values).to(device, non_blocking=True)


class _BeamState:
    """The live beams: prefixes (rows, t+1), cumulative scores (sentences, K) on the device;
    the sentence ids (a list) on the CPU."""

    def __init__(self, batch, beam, device, penalty):
        self.beam, self.penalty = beam, penalty  # penalty(length with EOS) divides a finished log-probability
        self.sentences = list(range(batch))
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
        self._finish(is_eos[:, :k] & top_scores[:, :k].isfinite(), top_scores[:, :k], top_beam[:, :k], step, finished)
        # the K best candidates that do not end: rank EOS candidates after all others
        order = (is_eos.long() * 2 * k + torch.arange(2 * k, device=is_eos.device)).argsort(dim=1)[:, :k]
        rows = (torch.arange(n, device=is_eos.device)[:, None] * k + top_beam.gather(1, order)).view(-1)
        self.prefixes = torch.cat([self.prefixes[rows], top_token.gather(1, order).view(-1, 1)], dim=1)
        self.scores = top_scores.gather(1, order)
        return rows

    def _finish(self, ends, scores, beams, step, finished):
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
            if len(finished[sentence]) < self.beam:
                finished[sentence].append(Hypothesis(tokens, log_prob / penalty, log_prob))

    def drop(self, done, rows):
        """Remove the sentences marked in `done` (a list); returns the part of the state rows `rows` that stays."""
        keep = [i for i, leaves in enumerate(done) if not leaves]
        self.sentences = [self.sentences[i] for i in keep]
        keep = to_device(keep, self.scores.device)
        self.scores = self.scores[keep]
        self.prefixes = self.prefixes.view(len(done), self.beam, -1)[keep].flatten(0, 1)
        return rows.view(len(done), self.beam)[keep].view(-1)
