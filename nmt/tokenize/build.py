"""The tokenizer kinds, and training, saving and loading the source/target pair a TokenizerConfig describes."""
import itertools
import json
import random
from pathlib import Path

from nmt import atomic
from nmt.errors import NmtError
from nmt.tokenize.base import Tokenizers
from nmt.tokenize.sentencepiece import SentencePieceTokenizer
from nmt.tokenize.wordpiece import WordPieceTokenizer

MANIFEST = "tokenizer.json"
SAMPLE_SEED = 0  # the same corpus and settings always give the same tokenizer

# `tokenizer.type` -> the class that trains and loads that kind: the one place the kinds are listed
KINDS = {**{kind: SentencePieceTokenizer for kind in SentencePieceTokenizer.model_types},
         WordPieceTokenizer.kind: WordPieceTokenizer}
# manifests written before there were several kinds say "sentencepiece"; the model file knows its type
LEGACY_KINDS = {"sentencepiece": SentencePieceTokenizer}


def training_sample(sentences, max_sentences):
    """At most `max_sentences` of `sentences` (anything with a length that can be iterated, such as a
    streamed text file), drawn with a fixed seed, in corpus order."""
    if len(sentences) <= max_sentences:
        return list(sentences)
    chosen = set(random.Random(SAMPLE_SEED).sample(range(len(sentences)), max_sentences))
    return [sentence for i, sentence in enumerate(sentences) if i in chosen]


class Joined:
    """Collections of sentences read as one, each after the one before (a joint vocabulary's text)."""

    def __init__(self, *parts):
        self.parts = parts

    def __len__(self):
        return sum(map(len, self.parts))

    def __iter__(self):
        return itertools.chain.from_iterable(self.parts)


def train_tokenizers(cfg, src_sentences, tgt_sentences, source_symbols=()):
    """The tokenizer(s) `cfg` describes, learned from a sample of each side's sentences (of both sides for a
    joint vocabulary); sentences may be lists or streamed text files (nmt.data.corpus.TextFile). Each of
    `source_symbols` is one piece of the source vocabulary."""
    def train(sentences, symbols=()):
        sample = training_sample(sentences, cfg.max_sentences)
        return KINDS[cfg.type].train(sample, cfg.type, cfg.vocab_size, cfg.character_coverage, symbols)

    if cfg.joint:
        shared = train(Joined(src_sentences, tgt_sentences), source_symbols)
        return Tokenizers(shared, shared, joint=True)
    return Tokenizers(train(src_sentences, source_symbols), train(tgt_sentences), joint=False)


def save_tokenizers(tokenizers, directory):
    directory = Path(directory)
    if tokenizers.joint:
        src_file = tgt_file = tokenizers.src.save(directory, "joint")
    else:
        src_file, tgt_file = tokenizers.src.save(directory, "src"), tokenizers.tgt.save(directory, "tgt")
    manifest = {"kind": tokenizers.src.kind, "joint": tokenizers.joint, "src": src_file, "tgt": tgt_file}
    atomic.write_text(directory / MANIFEST, json.dumps(manifest, indent=2))


def load_tokenizers(directory):
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        kind, src_file, tgt_file, joint = manifest["kind"], manifest["src"], manifest["tgt"], bool(manifest["joint"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NmtError(f"{directory / MANIFEST}: missing or invalid tokenizer manifest ({e})") from None
    cls = {**KINDS, **LEGACY_KINDS}.get(kind)
    if cls is None:
        raise NmtError(f"{directory / MANIFEST}: unknown tokenizer kind {kind!r} (this nmt knows {', '.join(KINDS)})")
    src = cls.load(directory / Path(src_file).name, kind)
    tgt = src if joint else cls.load(directory / Path(tgt_file).name, kind)
    return Tokenizers(src, tgt, joint)
