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
from nmt.decode.beam import BeamSearch
from nmt.decode.greedy import GreedySearch
from nmt.decode.options import DecodeConfig, with_options
from nmt.decode.rules import SearchRules
from nmt.decode.sampling import SamplingSearch

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


def search_for(settings):
    """The search a DecodeConfig asks for: sampling, greedy (beam 1, one output) or beam search."""
    limits = dict(max_len_a=settings.max_len_a, max_len_b=settings.max_len_b,
                  rules=SearchRules(settings.min_len, settings.no_repeat_ngram, settings.unk_penalty))
    if settings.sample:
        return SamplingSearch(settings.temperature, settings.top_k, settings.top_p, settings.seed, **limits)
    if settings.beam == 1 and settings.n_best == 1:
        return GreedySearch(**limits)
    return BeamSearch(settings.beam, settings.lenpen, settings.length_norm, settings.n_best, **limits)


class Translator:
    """Translates as `settings` (a DecodeConfig) says, some of its fields overridden by `options`
    (beam=1, ...; None keeps the setting; a value the section refuses is an NmtError)."""

    def __init__(self, model, tokenizers, device, settings=DecodeConfig(), **options):
        self.model, self.tokenizers, self.device = model, tokenizers, device
        self.settings = with_options(settings, options)
        self.search_method = search_for(self.settings)
        # the source needs room for EOS within the model's positions
        limit = model.max_positions
        self.max_source_tokens = limit - 1 if limit else None
        self.truncated = 0  # inputs cut to max_source_tokens so far

    def encode_source(self, line):
        ids = self.tokenizers.src.encode(normalize(line))
        if self.max_source_tokens and len(ids) > self.max_source_tokens:
            self.truncated += 1
            ids = ids[:self.max_source_tokens]
        return ids

    def decode_batch(self, id_lists, lines):
        """n-best lists of Hypotheses for a batch of encoded sources; `lines`: their line numbers."""
        with sdpa_kernel(DECODING_ATTENTION):
            return self.search_method.run(self.model, source_tensor(id_lists).to(self.device), lines)

    def translate_nbest(self, lines, first_line=0, progress=lambda sentences: None):
        """For each input line, a list of n_best Translations (empty ones for an empty line).

        `first_line` numbers the lines (sampling seeds each line by its number); `progress(n)` is
        called after each batch with the number of lines it translated."""
        encoded = [self.encode_source(line) for line in lines]
        results = [[Translation("", 0.0, [])] * self.settings.n_best for _ in lines]  # same columns for every line
        progress(len(lines) - sum(1 for ids in encoded if ids))  # empty lines are done already
        order = sorted((i for i, ids in enumerate(encoded) if ids), key=lambda i: len(encoded[i]))
        for chunk in self.batches(order, [len(ids) + 1 for ids in encoded]):  # + 1: EOS
            nbests = self.decode_batch([encoded[i] for i in chunk], [first_line + i for i in chunk])
            for i, nbest in zip(chunk, nbests):
                results[i] = [Translation(self.tokenizers.tgt.decode(h.tokens).translate(_ONE_LINE), h.score, h.tokens)
                              for h in nbest]
            progress(len(chunk))
        return results

    def batches(self, order, lengths):
        """Consecutive runs of the length-sorted line numbers `order`: at most `batch_size` lines and, with
        `batch_tokens`, at most that many source tokens counting padding (lines x the last, longest one)."""
        chunk = []
        for i in order:
            full = len(chunk) == self.settings.batch_size or (
                self.settings.batch_tokens and (len(chunk) + 1) * lengths[i] > self.settings.batch_tokens)
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

