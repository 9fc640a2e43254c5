"""The interface every tokenizer kind offers, and the special ids every vocabulary shares."""
from abc import ABC, abstractmethod
from dataclasses import dataclass

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3  # the same in every vocabulary, so models need not ask
SPECIAL_PIECES = ("<pad>", "<unk>", "<s>", "</s>")  # in id order


class Tokenizer(ABC):
    """Text <-> token ids. Ids exclude BOS/EOS: adding them is the data pipeline's job.

    `kind` is the name under which the manifest records the tokenizer (nmt/tokenize/build.py's KINDS).
    `min_vocab_size` and `min_vocab_reason` are the smallest vocabulary the kind can train, and why.
    """
    kind: str
    min_vocab_size: int
    min_vocab_reason: str

    @classmethod
    @abstractmethod
    def train(cls, sentences, kind, vocab_size, character_coverage, symbols=()): ...
    # `symbols`: words always kept whole as one piece each (the tags of data.extra)

    @classmethod
    @abstractmethod
    def load(cls, path, kind): ...

    @abstractmethod
    def save(self, directory, name):
        """Write the model to `directory`; returns the file name written."""

    @property
    @abstractmethod
    def vocab_size(self): ...

    @abstractmethod
    def encode(self, text): ...

    @abstractmethod
    def encode_batch(self, texts):
        """encode() of each text, through the library's multi-threaded path."""

    @abstractmethod
    def decode(self, ids): ...

    def pieces(self):
        """The vocabulary, id by id: tokenizers with equal pieces mean the same thing by every id."""
        return [self.decode([i]) for i in range(self.vocab_size)]


@dataclass
class Tokenizers:
    src: Tokenizer
    tgt: Tokenizer
    joint: bool
