"""`nmt preprocess`: read and clean the corpus, learn subwords, store token ids once."""
from nmt import atomic
from nmt.config import dump_yaml
from nmt.data import dataset
from nmt.data.corpus import clean_training_pairs, normalize, read_split
from nmt.data.dataset import EncodedSplit
from nmt.rundir import RunDir
from nmt.tokenize import train_tokenizers
from nmt.tokenize.build import save_tokenizers


def preprocess(cfg, run_dir, log=print):
    """Fill `run_dir` with the tokenizer, encoded train/dev data and their manifest."""
    run = RunDir(run_dir)
    dataset.remove_manifest(run.root)  # nothing here is trusted until the new manifest is written
    train, dropped = clean_training_pairs(read_split(cfg.data, cfg.data.train_split),
                                          cfg.data.max_words, cfg.data.max_length_ratio)
    kept = len(train.src)
    log(f"train: kept {kept} pairs" + "".join(f", dropped {n} ({why})" for why, n in sorted(dropped.items())))
    valid = read_split(cfg.data, cfg.data.valid_split)
    log(f"valid: {len(valid.src)} pairs")

    tokenizers = train_tokenizers(cfg.tokenizer, train.src, train.tgt)
    save_tokenizers(tokenizers, run.tokenizer)
    log(f"tokenizer: {cfg.tokenizer.type}, vocab {tokenizers.src.vocab_size} (src) / "
        f"{tokenizers.tgt.vocab_size} (tgt), {'joint' if tokenizers.joint else 'separate'}")

    paths = dataset.save_split(run.data, "train",
                               EncodedSplit.from_sequences([tokenizers.src.encode(s) for s in train.src]),
                               EncodedSplit.from_sequences([tokenizers.tgt.encode(t) for t in train.tgt]))
    # dev references stay raw: BLEU compares detokenised output with the text as given
    atomic.write_text(run.valid_text("src"), "".join(normalize(s) + "\n" for s in valid.src))
    atomic.write_text(run.valid_text("ref"), "".join(t + "\n" for t in valid.tgt))
    atomic.write_text(run.config, dump_yaml(cfg))
    paths += [run.valid_text("src"), run.valid_text("ref"), *sorted(run.tokenizer.iterdir())]
    info = {"train_pairs": kept, "dropped": dict(dropped), "valid_pairs": len(valid.src),
            "src_vocab": tokenizers.src.vocab_size, "tgt_vocab": tokenizers.tgt.vocab_size}
    dataset.write_manifest(run.root, paths, info)
    return info
