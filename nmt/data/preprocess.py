"""`nmt preprocess`: read and clean the corpus (and keep a subset of `data.train_words`), learn subwords,
store token ids once, report statistics."""
import json

from nmt import atomic
from nmt.config import dump_yaml
from nmt.data import dataset
from nmt.data.corpus import ParallelText, clean_training_pairs, normalize, read_split
from nmt.data.dataset import EncodedSplit
from nmt.data.stats import format_table, split_stats
from nmt.data.subsample import subsample
from nmt.errors import NmtError
from nmt.rundir import RunDir
from nmt.tokenize import train_tokenizers
from nmt.tokenize.build import save_tokenizers

STATS = "stats.json"


def preprocess(cfg, run_dir, log=print):
    """Fill `run_dir` with the tokenizer, encoded train/dev data, statistics and their manifest."""
    run = RunDir(run_dir)
    dataset.remove_manifest(run.root)  # nothing here is trusted until the new manifest is written
    train, train_dropped = read_training_pairs(cfg.data)
    train, subset = subsample_training_pairs(train, cfg.data)
    valid_raw = read_split(cfg.data, cfg.data.valid_split)
    valid = ParallelText([normalize(s) for s in valid_raw.src], [normalize(t) for t in valid_raw.tgt])

    tokenizers = train_tokenizers(cfg.tokenizer, train.src, train.tgt)
    save_tokenizers(tokenizers, run.tokenizer)
    log(f"tokenizer: {cfg.tokenizer.type}, vocab {tokenizers.src.vocab_size} (src) / "
        f"{tokenizers.tgt.vocab_size} (tgt), {'joint' if tokenizers.joint else 'separate'}")

    train_ids = tokenizers.src.encode_batch(train.src), tokenizers.tgt.encode_batch(train.tgt)
    valid_ids = tokenizers.src.encode_batch(valid.src), tokenizers.tgt.encode_batch(valid.tgt)
    stats = {"train": split_stats(train, *train_ids, train_dropped),
             "valid": split_stats(valid, *valid_ids, _invalid_drops(valid_raw))}
    if subset:
        stats["train"]["subsample"] = subset
    for line in format_table(stats):
        log(line)

    paths = dataset.save_split(run.data, "train", *map(EncodedSplit.from_sequences, train_ids))
    # the text too, so that subword sampling (tokenizer.sampling, also when first set at train time) can re-segment it
    for side, sentences in (("src", train.src), ("tgt", train.tgt)):
        atomic.write_text(run.train_text(side), "".join(s + "\n" for s in sentences))
        paths.append(run.train_text(side))
    # dev references stay raw: BLEU compares detokenised output with the text as given
    atomic.write_text(run.valid_text("src"), "".join(s + "\n" for s in valid.src))
    atomic.write_text(run.valid_text("ref"), "".join(t + "\n" for t in valid_raw.tgt))
    atomic.write_text(run.root / STATS, json.dumps(stats, indent=2))
    atomic.write_text(run.config, dump_yaml(cfg))
    paths += [run.valid_text("src"), run.valid_text("ref"), run.root / STATS, *sorted(run.tokenizer.iterdir())]
    info = {"train_pairs": len(train.src), "dropped": stats["train"]["dropped"], "valid_pairs": len(valid.src),
            "src_vocab": tokenizers.src.vocab_size, "tgt_vocab": tokenizers.tgt.vocab_size}
    if subset:
        info["subsample"] = subset
    dataset.write_manifest(run.root, paths, info)
    return info


def read_training_pairs(data_cfg):
    """The cleaned training pairs and the drop counts per reason; an error if nothing is left."""
    raw = read_split(data_cfg, data_cfg.train_split)
    train, dropped = clean_training_pairs(raw, data_cfg.max_words, data_cfg.max_length_ratio)
    dropped.update(_invalid_drops(raw))
    if not train.src:
        drops = ", ".join(f"{n} {why}" for why, n in sorted(dropped.items()))
        raise NmtError(f"{data_cfg.dir or data_cfg.hf_dataset}: no training pairs left after filtering "
                       f"(dropped {drops}; see data.max_words, data.max_length_ratio)")
    return train, dropped


def subsample_training_pairs(train, data_cfg):
    """The `data.train_words` subset of the cleaned pairs and its record for stats and manifest (None when
    all pairs are kept). It comes before the tokenizer, which must not learn subwords from the rest."""
    if not data_cfg.train_words:
        return train, None
    subset = subsample(train, data_cfg.train_words, data_cfg.subsample_seed)
    return subset, {"train_words": data_cfg.train_words, "seed": data_cfg.subsample_seed, "pairs": len(subset.src),
                    "words": sum(len(s.split()) for s in subset.src), "of_pairs": len(train.src)}


def _invalid_drops(text):
    return {"invalid UTF-8": text.skipped_invalid} if text.skipped_invalid else {}
