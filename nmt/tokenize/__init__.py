"""Subword tokenizers of several kinds. `Tokenizers` pairs a source and a target model (one shared model when joint)."""
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, Tokenizers
from nmt.tokenize.build import KINDS, load_tokenizers, train_tokenizers

__all__ = ["BOS_ID", "EOS_ID", "PAD_ID", "UNK_ID", "Tokenizer", "Tokenizers", "KINDS",
           "train_tokenizers", "load_tokenizers"]
