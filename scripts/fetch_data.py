#!/usr/bin/env python
"""Fetch a parallel corpus from the Hugging Face hub into {split}.{lang} files, the layout `nmt preprocess
--data-dir` reads.

    python scripts/fetch_data.py multi30k --out data/multi30k          # de and en, as the recipes expect
    python scripts/fetch_data.py NAME --config de-en --src de --tgt en --out data/NAME

Reads both hub layouts: a `translation` column of {lang: text}, or one column per language (Multi30k's).
Split names are mapped to the recipes' ones (validation -> val; Multi30k's test -> test_2016_flickr).
NAME may also be a folder written by `DatasetDict.save_to_disk`.
"""
import argparse
from pathlib import Path

KNOWN = {  # short name -> (hub name, config, source, target, split renames)
    "multi30k": ("bentrevett/multi30k", None, "de", "en", {"validation": "val", "test": "test_2016_flickr"}),
}


def load(name, config):
    import datasets

    if Path(name).is_dir():
        return datasets.load_from_disk(name)
    return datasets.load_dataset(name, config)


def side(split, lang):
    """The texts of one language, from either layout."""
    if lang in split.column_names:
        return split[lang]
    return [pair[lang] for pair in split["translation"]]


def fetch(name, config, src, tgt, out, renames):
    out.mkdir(parents=True, exist_ok=True)
    for split_name, split in load(name, config).items():
        target = renames.get(split_name, "val" if split_name == "validation" else split_name)
        for lang in (src, tgt):
            lines = [" ".join(text.split()) for text in side(split, lang)]  # one line per text, always
            (out / f"{target}.{lang}").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"{target}: {split.num_rows} pairs -> {out}/{target}.{{{src},{tgt}}}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help=f"a hub dataset, a save_to_disk folder, or one of: {', '.join(KNOWN)}")
    parser.add_argument("--config", help="the dataset's configuration (e.g. de-en)")
    parser.add_argument("--src", help="source language code")
    parser.add_argument("--tgt", help="target language code")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    name, config, src, tgt, renames = KNOWN.get(args.name, (args.name, None, None, None, {}))
    fetch(name, args.config or config, args.src or src, args.tgt or tgt, args.out, renames)


if __name__ == "__main__":
    main()
