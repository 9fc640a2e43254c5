"""Text in, text out: tokenise, batch by length, decode, detokenise, restore the input order.

Used by validation during training and by `nmt translate`, so both decode the same way.
Output line i always answers input line i: empty input lines give empty output lines.
Inputs too large for memory are translated in chunks of lines (`translate_stream`).
"""
import itertools
from dataclasses import dataclass, field

from torch.nn.attention import SDPBackend, sdpa_kernel

from nmt.data.batching import source_tensor
from nmt.data.corpus import normalize
from nmt.decode.beam import beam_search
from nmt.decode.greedy import greedy_search
from nmt.decode.rules import SearchRules
from nmt.decode.sampling import sample_search

# a model can emit byte pieces that decode to line breaks: they become spaces, so that output line i
# stays the answer to input line i (these are what str.splitlines breaks at, plus the n-best tab)
_ONE_LINE = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\t"})

# Attention kernels for decoding: all but cuDNN's, which plans anew for every new shape, and a search's
# shapes change at every step (the cache grows, finished sentences leave): on an H100 it made bf16 beam
# search 9x slower than these kernels (docs/BENCHMARKS.md, "On a GPU").
DECODING_ATTENTION = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


@dataclass
class Translation:
    text: str
    score: float
    tokens: list = field(repr=False)


class Translator:
    """Greedy (beam 1), beam search, or sampling when `sampling` (a Sampling) is given."""

    def __init__(self, model, tokenizers, device, beam=5, lenpen=1.0, max_len_a=1.5, max_len_b=10,
                 batch_size=64, n_best=1, max_source_tokens=None, rules=SearchRules(), length_norm="gnmt",
                 sampling=None, batch_tokens=0):
        self.model, self.tokenizers, self.device = model, tokenizers, device
        self.beam, self.lenpen, self.n_best, self.length_norm = beam, lenpen, n_best, length_norm
        self.rules, self.sampling = rules, sampling
        self.max_len_a, self.max_len_b = max_len_a, max_len_b
        self.batch_size, self.batch_tokens = batch_size, batch_tokens
        # the source needs room for EOS within the model's positions
        limit = model.max_positions
        self.max_source_tokens = max_source_tokens or (limit - 1 if limit else None)
        self.truncated = 0  # inputs cut to max_source_tokens so far

    @classmethod
    def from_config(cls, model, tokenizers, device, cfg, **overrides):
        """A Translator with the settings of a DecodeConfig, some of them overridden (beam=1, ...)."""
        settings = dict(beam=cfg.beam, lenpen=cfg.lenpen, max_len_a=cfg.max_len_a, max_len_b=cfg.max_len_b,
                        batch_size=cfg.batch_size, batch_tokens=cfg.batch_tokens, n_best=cfg.n_best,
                        length_norm=cfg.length_norm,
                        min_len=cfg.min_len, no_repeat_ngram=cfg.no_repeat_ngram, unk_penalty=cfg.unk_penalty)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        rules = SearchRules(*(settings.pop(k) for k in ("min_len", "no_repeat_ngram", "unk_penalty")))
        return cls(model, tokenizers, device, rules=rules, **settings)

    def encode_source(self, line):
        ids = self.tokenizers.src.encode(normalize(line))
        if self.max_source_tokens and len(ids) > self.max_source_tokens:
            self.truncated += 1
            ids = ids[:self.max_source_tokens]
        return ids

    def decode_batch(self, id_lists, lines):
        """n-best lists of (token list, score) for a batch of encoded sources; `lines`: their line numbers."""
        with sdpa_kernel(DECODING_ATTENTION):
            return self.search(source_tensor(id_lists).to(self.device), lines)

    def search(self, src, lines):
        limits = (self.max_len_a, self.max_len_b)
        if self.sampling is not None:
            tokens, scores = sample_search(self.model, src, *limits, self.sampling, lines, self.rules)
        elif self.beam == 1 and self.n_best == 1:
            tokens, scores = greedy_search(self.model, src, *limits, self.rules)
        else:
            hyps = beam_search(self.model, src, self.beam, self.lenpen, *limits, self.n_best, self.rules,
                               self.length_norm)
            return [[(h.tokens, h.score) for h in nbest] for nbest in hyps]
        return [[(t, s)] for t, s in zip(tokens, scores)]

    def translate_nbest(self, lines, first_line=0, progress=lambda sentences: None):
        """For each input line, a list of n_best Translations (empty ones for an empty line).

        `first_line` numbers the lines (sampling seeds each line by its number); `progress(n)` is
        called after each batch with the number of lines it translated."""
        encoded = [self.encode_source(line) for line in lines]
        results = [[Translation("", 0.0, [])] * self.n_best for _ in lines]  # same columns for every line
        progress(len(lines) - sum(1 for ids in encoded if ids))  # empty lines are done already
        order = sorted((i for i, ids in enumerate(encoded) if ids), key=lambda i: len(encoded[i]))
        for chunk in self.batches(order, [len(ids) + 1 for ids in encoded]):  # + 1: EOS
            nbests = self.decode_batch([encoded[i] for i in chunk], [first_line + i for i in chunk])
            for i, nbest in zip(chunk, nbests):
                results[i] = [Translation(self.tokenizers.tgt.decode(t).translate(_ONE_LINE), s, t) for t, s in nbest]
            progress(len(chunk))
        return results

    def batches(self, order, lengths):
        """Consecutive runs of the length-sorted line numbers `order`: at most `batch_size` lines and, with
        `batch_tokens`, at most that many source tokens counting padding (lines x the last, longest one)."""
        chunk = []
        for i in order:
            full = len(chunk) == self.batch_size or (
                self.batch_tokens and (len(chunk) + 1) * lengths[i] > self.batch_tokens)
            if chunk and full:
                yield chunk
                chunk = []
            chunk.append(i)
        if chunk:
            yield chunk

    def translate_stream(self, lines, chunk_lines, progress=lambda sentences: None):
        """n-best lists for an iterable of lines, read and translated `chunk_lines` at a time, so that
        memory holds one chunk; the output equals `translate_nbest` of all lines at once."""
        lines, first_line = iter(lines), 0
        while chunk := list(itertools.islice(lines, chunk_lines)):
            yield from self.translate_nbest(chunk, first_line, progress)
            first_line += len(chunk)

    def translate(self, lines):
        return [nbest[0].text for nbest in self.translate_nbest(lines)]

