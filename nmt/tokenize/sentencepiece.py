"""sentencepiece models (BPE, unigram, char, word) behind the Tokenizer interface."""
import io
from pathlib import Path

import sentencepiece as spm

from nmt import atomic
from nmt.errors import NmtError
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer


MODEL_TYPES = ("bpe", "unigram", "char", "word")  # `tokenizer.type`: sentencepiece's model types


class SentencePieceTokenizer(Tokenizer):
    def __init__(self, model_proto: bytes):
        self.proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)

    @classmethod
    def train(cls, sentences, model_type, vocab_size, character_coverage):
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences), model_writer=model,
                model_type=model_type, vocab_size=vocab_size, character_coverage=character_coverage,
                pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
                # we normalise (NFC, spaces) ourselves; identity keeps decode(encode(x)) == x,
                # and byte fallback spells unseen characters instead of mapping them to <unk>
                normalization_rule_name="identity", byte_fallback=True,
                input_sentence_size=2_000_000, shuffle_input_sentence=True,
                num_threads=2, minloglevel=2)
        except RuntimeError as e:
            raise NmtError(f"sentencepiece could not train a {model_type} model of "
                           f"{vocab_size} pieces: {str(e).strip().splitlines()[-1]}") from None
        return cls(model.getvalue())

    @classmethod
    def load(cls, path):
        try:
            return cls(Path(path).read_bytes())
        except (OSError, RuntimeError) as e:
            raise NmtError(f"{path}: not a readable sentencepiece model ({e})") from None

    @property
    def vocab_size(self):
        return self.sp.get_piece_size()

    def encode(self, text):
        return self.sp.encode(text)

    def decode(self, ids):
        return self.sp.decode(list(ids))

    def pieces(self):
        return [self.sp.id_to_piece(i) for i in range(self.vocab_size)]

    def save(self, directory, name):
        atomic.write_bytes(Path(directory) / f"{name}.model", self.proto)
