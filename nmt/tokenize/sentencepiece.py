"""sentencepiece models (kinds bpe, unigram, char, word) behind the Tokenizer interface."""
import functools
import io
from pathlib import Path

import numpy as np
import sentencepiece as spm

from nmt import atomic
from nmt.errors import NmtError
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer
from nmt.tokenize.subword_sampling import WORD_BOUNDARY, PieceSampler


class SentencePieceTokenizer(Tokenizer):
    model_types = ("bpe", "unigram", "char", "word")  # the kinds this class trains, sentencepiece's names
    sampling_types = ("bpe", "unigram")  # the kinds sample_batch can re-segment (char and word have one way)
    min_vocab_size = 300
    min_vocab_reason = "4 special symbols and 256 byte-fallback pieces, with room for real pieces"

    def __init__(self, model_proto: bytes, kind):
        self.proto, self.kind = model_proto, kind
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)

    @classmethod
    def train(cls, sentences, kind, vocab_size, character_coverage, symbols=()):
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences), model_writer=model,
                model_type=kind, vocab_size=vocab_size, character_coverage=character_coverage,
                pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
                # we normalise (NFC, spaces) ourselves; identity keeps decode(encode(x)) == x,
                # and byte fallback spells unseen characters instead of mapping them to <unk>
                normalization_rule_name="identity", byte_fallback=True,
                input_sentence_size=0,  # build.py has already sampled at most tokenizer.max_sentences
                user_defined_symbols=list(symbols),
                num_threads=2, minloglevel=2)
        except RuntimeError as e:
            raise NmtError(f"sentencepiece could not train a {kind} model of "
                           f"{vocab_size} pieces: {str(e).strip().splitlines()[-1]}") from None
        return cls(model.getvalue(), kind)

    @classmethod
    def load(cls, path, kind):
        try:
            return cls(Path(path).read_bytes(), kind)
        except (OSError, RuntimeError) as e:
            raise NmtError(f"{path}: not a readable sentencepiece model ({e})") from None

    def save(self, directory, name):
        atomic.write_bytes(Path(directory) / f"{name}.model", self.proto)
        return f"{name}.model"

    @property
    def vocab_size(self):
        return self.sp.get_piece_size()

    def encode(self, text):
        return self.sp.encode(text)

    def encode_batch(self, texts):
        return self.sp.encode(list(texts))  # a list is encoded on all cores (num_threads=-1)

    def sample_batch(self, texts, alpha, seed):
        """A random segmentation of each text: BPE-dropout with rate `alpha` (bpe), or a draw from the
        unigram lattice with smoothing `alpha` (unigram). The same seed (an int or a tuple of them)
        gives the same segmentations, in any process."""
        rng = np.random.default_rng(seed)
        return [self.sampler.sample(text, alpha, rng) for text in texts]

    @functools.cached_property
    def sampler(self):
        return PieceSampler(self.proto)

    def decode(self, ids):
        # the word model spells an unknown word in bytes, its leading word-boundary mark "▁" included,
        # and decoding leaves a byte-spelt "▁" as it is; every other "▁" it already turns into a space
        return self.sp.decode(list(ids)).replace(WORD_BOUNDARY, " ").lstrip(" ")

    def pieces(self):
        return [self.sp.id_to_piece(i) for i in range(self.vocab_size)]
