"""Train, save and load the source/target tokenizer pair described by a TokenizerConfig."""
import json
from pathlib import Path

from nmt import atomic
from nmt.errors import NmtError
from nmt.tokenize.base import Tokenizers
from nmt.tokenize.sentencepiece import SentencePieceTokenizer

MANIFEST = "tokenizer.json"


def train_tokenizers(cfg, src_sentences, tgt_sentences):
    def train(sentences):
        return SentencePieceTokenizer.train(sentences, cfg.type, cfg.vocab_size, cfg.character_coverage)

    if cfg.joint:
        shared = train(list(src_sentences) + list(tgt_sentences))
        return Tokenizers(shared, shared, joint=True)
    return Tokenizers(train(src_sentences), train(tgt_sentences), joint=False)


def save_tokenizers(tokenizers, directory):
    directory = Path(directory)
    names = {"src": "joint", "tgt": "joint"} if tokenizers.joint else {"src": "src", "tgt": "tgt"}
    tokenizers.src.save(directory, names["src"])
    if not tokenizers.joint:
        tokenizers.tgt.save(directory, names["tgt"])
    manifest = {"kind": "sentencepiece", "joint": tokenizers.joint,
                "src": f"{names['src']}.model", "tgt": f"{names['tgt']}.model"}
    atomic.write_text(directory / MANIFEST, json.dumps(manifest, indent=2))


def load_tokenizers(directory):
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        src_file, tgt_file, joint = manifest["src"], manifest["tgt"], bool(manifest["joint"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NmtError(f"{directory / MANIFEST}: missing or invalid tokenizer manifest ({e})") from None
    src = SentencePieceTokenizer.load(directory / Path(src_file).name)
    tgt = src if joint else SentencePieceTokenizer.load(directory / Path(tgt_file).name)
    return Tokenizers(src, tgt, joint)
