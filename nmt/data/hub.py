"""Parallel corpora from the Hugging Face hub (or a `save_to_disk` folder), read as texts per split.

Hub datasets come in two layouts: a `translation` column of {language: text} (MAFAND, WMT) or one
column per language (Multi30k). Their split names are not nmt's: `validation` is read as `val` (MAFAND's
as `dev`).
`KNOWN` says once, for the corpora nmt knows by a short name, where the hub keeps them and how to load
them. `nmt fetch` (which writes `{split}.{lang}` files) and `data.hf_dataset` both read through
`open_corpus` and `split_pairs`.
"""
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Callable

from nmt import atomic
from nmt.errors import NmtError

SPLIT_NAMES = {"validation": "val", "valid": "val", "dev": "val"}  # a hub split's name -> nmt's


def _any_two(languages):
    return tuple(f"{a}-{b}" for a, b in combinations(languages.split(), 2))


@dataclass(frozen=True)
class HubSource:
    """A corpus on the hub: the language pairs it holds (either direction can be read), the arguments
    `datasets.load_dataset` needs for one of them, and its split names beyond SPLIT_NAMES."""
    repo: str
    pairs: tuple
    load_args: Callable = lambda src, tgt: {}  # (the pair's languages, in `pairs` order) -> keyword arguments
    split_names: dict = field(default_factory=dict)
    folder_per_pair: bool = False  # each pair is a different corpus, so `nmt fetch` writes a folder per pair


MULTI30K_SPLITS = {"test": "test_2016_flickr"}  # the 1,000-line test set of task 1
MAFAND_PAIRS = ("en-hau", "en-ibo", "en-lug", "en-luo", "en-pcm", "en-swa", "en-tsn", "en-twi", "en-yor",
                "en-zul", "fr-bam", "fr-bbj", "fr-ewe", "fr-fon", "fr-mos", "fr-wol",
                # dev and test only
                "en-amh", "en-kin", "en-nya", "en-sna", "en-xho")

# short name -> its sources, the first that holds the pair is read
KNOWN = {
    "multi30k": (
        HubSource("bentrevett/multi30k", ("de-en",), split_names=MULTI30K_SPLITS),
        # fr and cs: a copy that also holds the Flickr images (about 10 GB), streamed so that only the
        # two text columns are read
        HubSource("romrawinjp/multi30k", _any_two("de en fr cs"), split_names=MULTI30K_SPLITS,
                  load_args=lambda src, tgt: {"columns": [src, tgt], "streaming": True}),
    ),
    # the repository's main branch holds a loading script, which `datasets` no longer runs; the hub's
    # parquet export of it has one folder per pair
    # its dev split keeps the name `dev`, as in the MAFAND text files and the low-resource recipes
    "mafand": (HubSource("masakhane/mafand", MAFAND_PAIRS, folder_per_pair=True,
                         split_names={"validation": "dev", "dev": "dev"},
                         load_args=lambda src, tgt: {"data_dir": f"{src}-{tgt}", "revision": "refs/convert/parquet"}),),
}


def open_corpus(name, config, src, tgt):
    """{nmt split name: rows} of corpus `name` (a KNOWN name, a `save_to_disk` folder or a hub dataset)
    for the languages `src` and `tgt`. Rows are read lazily where the source is streamed."""
    import datasets  # heavy import, only when a dataset is read

    if name in KNOWN:
        source, pair = _known_source(name, config, src, tgt)
        loaded, renames = _load(source.repo, source.load_args(*pair.split("-"))), source.split_names
    elif Path(name).is_dir():
        loaded, renames = datasets.load_from_disk(name), {}
    else:
        hint = f" (nmt knows {', '.join(KNOWN)} by name; a folder must be written by save_to_disk)"
        loaded, renames = _load(name, {"name": config or None}, hint), {}
    if not isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        loaded = {"train": loaded}  # a single saved Dataset is a training set
    renames = {**SPLIT_NAMES, **renames}
    return {renames.get(split, split): rows for split, rows in loaded.items()}


def _known_source(name, config, src, tgt):
    """The first source of KNOWN[name] holding the pair src-tgt (either direction), and that pair."""
    if config:
        raise NmtError(f"{name} chooses its own configuration from the languages: leave out the "
                       f"configuration {config!r} and give the two languages")
    for source in KNOWN[name]:
        for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
            if pair in source.pairs:
                return source, pair
    pairs = sorted({pair for source in KNOWN[name] for pair in source.pairs})
    raise NmtError(f"{name} has no language pair {src}-{tgt}; it has {', '.join(pairs)}")


def _load(repo, arguments, hint=""):
    import datasets

    try:
        return datasets.load_dataset(repo, **arguments)
    except Exception as e:  # the hub raises many types (offline, not found, gated, bad config)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NmtError(f"datasets could not load {repo!r}: {reason}{hint}") from None


def split_pairs(rows, src, tgt, where):
    """(source text, target text) of each row of a split, one at a time, in either layout: a `translation`
    column or a column per language. A missing text (None) reads as an empty line, which cleaning drops
    like any empty pair."""
    for row in rows:
        texts = row["translation"] if "translation" in row else row
        for lang in (src, tgt):
            if lang not in texts:
                raise NmtError(f"{where}: no language {lang!r} (it has {', '.join(texts)})")
        yield texts[src] or "", texts[tgt] or ""


def iter_split(name, config, split, src, tgt):
    """The (source, target) texts of one split, named as nmt names it (`val`, not `validation`)."""
    splits = open_corpus(name, config, src, tgt)
    if split not in splits:
        raise NmtError(f"{name}: no split {split!r} (has {', '.join(splits)})")
    return split_pairs(splits[split], src, tgt, f"{name} split {split}")


def fetch(name, out=None, config="", src="", tgt="", log=print):
    """Write every split of corpus `name` as `{split}.{lang}` files, one text per line, into `out`
    (default: data/NAME, with a folder per pair where each pair is a different corpus); returns `out`."""
    src, tgt = _languages(name, config, src, tgt)
    splits = open_corpus(name, config, src, tgt)
    out = Path(out) if out else _default_folder(name, config, src, tgt)
    for split, rows in splits.items():
        pairs = list(split_pairs(rows, src, tgt, f"{name} split {split}"))
        for lang, texts in ((src, [s for s, _ in pairs]), (tgt, [t for _, t in pairs])):
            # line breaks inside a text would shift every later line
            atomic.write_text(out / f"{split}.{lang}", "".join(" ".join(text.split()) + "\n" for text in texts))
        log(f"{split}: {len(pairs)} pairs -> {out}/{split}.{{{src},{tgt}}}")
    log(f"next: nmt preprocess --data-dir {out} --set data.src_lang={src} --set data.tgt_lang={tgt} ...")
    return out


def _languages(name, config, src, tgt):
    """The languages to fetch: as given, else a known corpus's first pair or a configuration named like de-en."""
    if src and tgt:
        return src, tgt
    default = KNOWN[name][0].pairs[0] if name in KNOWN else config
    if not src and not tgt and default.count("-") == 1:
        return tuple(default.split("-"))
    known = "" if name in KNOWN else f"not one of {', '.join(KNOWN)}: for a hub dataset or a folder, "
    raise NmtError(f"{name}: {known}say which two languages to fetch (--src and --tgt)")


def _default_folder(name, config, src, tgt):
    folder = Path("data") / Path(name).name
    if name in KNOWN:
        source, pair = _known_source(name, config, src, tgt)
        return folder / pair if source.folder_per_pair else folder
    return folder / config if config else folder
