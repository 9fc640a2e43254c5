"""Subword tokenizers. `Tokenizers` pairs a source and a target model (one shared model when joint)."""
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, Tokenizers
from nmt.tokenize.sentencepiece import SentencePieceTokenizer

__all__ = ["BOS_ID", "EOS_ID", "PAD_ID", "UNK_ID", "Tokenizer", "Tokenizers", "SentencePieceTokenizer",
           "train_tokenizers", "load_tokenizers"]

from nmt.tokenize.build import load_tokenizers, train_tokenizers  # noqa: E402
