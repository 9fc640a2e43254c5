"""The interface every tokenizer offers, and the special ids every vocabulary shares."""
from abc import ABC, abstractmethod
from dataclasses import dataclass

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3  # the same in every vocabulary, so models need not ask


class Tokenizer(ABC):
    """Text <-> token ids. Ids exclude BOS/EOS: adding them is the data pipeline's job."""

    @property
    @abstractmethod
    def vocab_size(self): ...

    @abstractmethod
    def encode(self, text): ...

    @abstractmethod
    def decode(self, ids): ...

    @abstractmethod
    def save(self, directory, name): ...

    def pieces(self):
        """The vocabulary, id by id: tokenizers with equal pieces mean the same thing by every id."""
        return [self.decode([i]) for i in range(self.vocab_size)]


@dataclass
class Tokenizers:
    src: Tokenizer
    tgt: Tokenizer
    joint: bool
