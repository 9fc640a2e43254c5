"""WordPiece (kind `wordpiece`) through Hugging Face `tokenizers`, set up to decode losslessly.

BERT's setup loses text: its pre-tokeniser splits punctuation off words and its decoder joins
pieces with spaces, so "Hello, world" comes back as "hello , world". Here words are split on
spaces only, and each word starts with the metaspace "▁" (as in sentencepiece). The WordPiece
decoder glues "##" pieces to the piece before and puts a space before every other piece, which
then always starts with "▁"; removing "▁" gives the text back. Characters never seen in training
turn their whole word into <unk> (WordPiece has no byte fallback): that is the kind's own rule.
"""
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

from nmt import atomic
from nmt.errors import NmtError, one_line
from nmt.tokenize.base import SPECIAL_PIECES, UNK_ID, Tokenizer

METASPACE, CONTINUATION = "▁", "##"


def _untrained():
    """The pipeline around a still empty WordPiece model."""
    model = models.WordPiece(unk_token=SPECIAL_PIECES[UNK_ID], continuing_subword_prefix=CONTINUATION,
                             max_input_chars_per_word=1_000_000)  # CJK text can be one long "word"
    tokenizer = HFTokenizer(model)
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Sequence([decoders.WordPiece(prefix=CONTINUATION, cleanup=False),
                                           decoders.Replace(METASPACE, "")])
    return tokenizer


class WordPieceTokenizer(Tokenizer):
    kind = "wordpiece"
    min_vocab_size = 5
    min_vocab_reason = "4 special symbols and at least one piece"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, sentences, kind, vocab_size, character_coverage, symbols=()):
        """`character_coverage` is sentencepiece's; the config allows only 1.0 (every character) here."""
        tokenizer = _untrained()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=[*SPECIAL_PIECES, *symbols],
                                            continuing_subword_prefix=CONTINUATION, show_progress=False)
        tokenizer.train_from_iterator(sentences, trainer)
        if tokenizer.get_vocab_size() > vocab_size:  # the trainer keeps every character, whatever the size
            raise NmtError(f"tokenizer.vocab_size {vocab_size} is too small for wordpiece on this corpus: "
                           f"its characters alone take {tokenizer.get_vocab_size()} pieces")
        return cls(tokenizer)

    @classmethod
    def load(cls, path, kind):
        try:
            return cls(HFTokenizer.from_str(Path(path).read_text(encoding="utf-8")))
        except Exception as e:  # OSError, bad UTF-8, or the bare Exception tokenizers raises on bad JSON
            raise NmtError(f"{path}: not a readable wordpiece tokenizer ({one_line(e)})") from None

    def save(self, directory, name):
        atomic.write_text(Path(directory) / f"{name}.json", self.tokenizer.to_str())
        return f"{name}.json"

    @property
    def vocab_size(self):
        return self.tokenizer.get_vocab_size()

    def encode(self, text):
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts):
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids):
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)
