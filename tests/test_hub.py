"""Hub corpora on local datasets (the hub is not reachable here): `nmt fetch` and `data.hf_dataset` read
both column layouts, map split names, and load the known corpora with the arguments of KNOWN."""
import json

import datasets
import pytest

from nmt.config import load_config
from nmt.data import hub
from nmt.data.corpus import ParallelText, read_split
from nmt.errors import NmtError

ROWS = {"train": [("Ein Hund.", "A dog."), ("Zwei  Katzen\nspielen.", "Two cats play.")],
        "validation": [("Ein Haus.", "A house.")]}


def saved_dataset(path, layout, rows=ROWS, src="de", tgt="en"):
    """A save_to_disk folder in one of the hub's layouts: a column per language or a `translation` column."""
    def split(pairs):
        if layout == "columns":
            return datasets.Dataset.from_dict({src: [s for s, _ in pairs], tgt: [t for _, t in pairs]})
        return datasets.Dataset.from_dict({"translation": [{src: s, tgt: t} for s, t in pairs]})

    datasets.DatasetDict({name: split(pairs) for name, pairs in rows.items()}).save_to_disk(str(path))
    return path


def one_line_error(result):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("layout", ["columns", "translation"])
def test_fetch_writes_split_lang_files_from_both_layouts(run_cli, tmp_path, layout):
    saved_dataset(tmp_path / "hub", layout)
    result = run_cli("fetch", tmp_path / "hub", "--src", "de", "--tgt", "en", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert (out / "train.de").read_text() == "Ein Hund.\nZwei Katzen spielen.\n"  # one text, one line
    assert (out / "train.en").read_text() == "A dog.\nTwo cats play.\n"
    assert (out / "val.de").read_text() == "Ein Haus.\n" and (out / "val.en").read_text() == "A house.\n"
    assert sorted(p.name for p in out.iterdir()) == ["train.de", "train.en", "val.de", "val.en"]


@pytest.mark.parametrize("layout", ["columns", "translation"])
def test_hf_dataset_reads_both_layouts_and_validation_as_val(tmp_path, layout):
    saved_dataset(tmp_path / "hub", layout)
    cfg = load_config(None, [f"data.hf_dataset={tmp_path / 'hub'}"]).data
    assert read_split(cfg, "val") == ParallelText(["Ein Haus."], ["A house."])
    assert read_split(cfg, "train").tgt == ["A dog.", "Two cats play."]


def test_missing_text_is_an_empty_line(tmp_path):
    rows = {"train": [("Ein Hund.", None), ("Eine Katze.", "A cat.")]}
    saved_dataset(tmp_path / "hub", "columns", rows)
    hub.fetch(str(tmp_path / "hub"), tmp_path / "out", src="de", tgt="en", log=lambda m: None)
    assert (tmp_path / "out" / "train.en").read_text() == "\nA cat.\n"


# ---------------------------------------------------------------- the known corpora, from local mirrors

def mirror_hub(root):
    """Local folders laid out like the hub repositories that KNOWN names (files and split names as there)."""
    m30k = root / "bentrevett" / "multi30k"  # json lines, split files train / val / test
    m30k.mkdir(parents=True)
    for split in ("train", "val", "test"):
        lines = [json.dumps({"en": f"en {split} {i}", "de": f"de {split} {i}"}) for i in range(2)]
        (m30k / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    images = root / "romrawinjp" / "multi30k" / "data"  # parquet, four languages and an image column
    images.mkdir(parents=True)
    for split in ("train", "validation", "test"):
        columns = {lang: [f"{lang} {split} {i}" for i in range(2)] for lang in ("en", "cs", "de", "fr")}
        datasets.Dataset.from_dict({**columns, "image": ["pixels", "pixels"]}).to_parquet(
            str(images / f"{split}-00000-of-00001.parquet"))
    for pair in ("en-hau", "fr-wol"):  # the parquet export: a folder per pair, one per split
        a, b = pair.split("-")
        for split in ("train", "validation", "test"):
            folder = root / "masakhane" / "mafand" / pair / split
            folder.mkdir(parents=True)
            rows = [{a: f"{a} {split} {i}", b: f"{b} {split} {i}"} for i in range(2)]
            datasets.Dataset.from_dict({"translation": rows}).to_parquet(str(folder / "0000.parquet"))


@pytest.fixture
def hub_mirror(tmp_path, monkeypatch):
    """`datasets.load_dataset` reads the mirror of a hub repository instead; returns the calls made."""
    mirror_hub(tmp_path / "mirror")
    real, calls = datasets.load_dataset, []

    def load_mirror(repo, **arguments):
        calls.append((repo, arguments))
        return real(str(tmp_path / "mirror" / repo), cache_dir=str(tmp_path / "cache"), **arguments)

    monkeypatch.setattr(datasets, "load_dataset", load_mirror)
    monkeypatch.chdir(tmp_path)
    return calls


def test_multi30k_de_en_is_the_text_only_copy_with_its_test_set_named(hub_mirror, tmp_path):
    out = hub.fetch("multi30k", log=lambda m: None)  # de-en by default
    assert hub_mirror == [("bentrevett/multi30k", {})]
    assert out.resolve() == tmp_path / "data" / "multi30k"
    assert sorted(p.name for p in out.iterdir()) == [f"{split}.{lang}" for split in ("test_2016_flickr", "train", "val")
                                                     for lang in ("de", "en")]
    assert (out / "test_2016_flickr.de").read_text() == "de test 0\nde test 1\n"


def test_multi30k_fr_cs_streams_two_columns_of_the_copy_with_images(hub_mirror):
    out = hub.fetch("multi30k", src="fr", tgt="cs", log=lambda m: None)
    assert hub_mirror == [("romrawinjp/multi30k", {"columns": ["fr", "cs"], "streaming": True})]
    assert (out / "val.fr").read_text() == "fr validation 0\nfr validation 1\n"
    assert (out / "test_2016_flickr.cs").exists() and not list(out.glob("*.de"))


def test_mafand_pair_is_a_folder_of_the_parquet_export(hub_mirror, tmp_path):
    out = hub.fetch("mafand", src="hau", tgt="en", log=lambda m: None)
    assert hub_mirror == [("masakhane/mafand", {"data_dir": "en-hau", "revision": "refs/convert/parquet"})]
    assert out.resolve() == tmp_path / "data" / "mafand" / "en-hau"
    assert (out / "train.hau").read_text() == "hau train 0\nhau train 1\n"
    assert (out / "dev.en").read_text() == "en validation 0\nen validation 1\n"  # MAFAND's own name


def test_hf_dataset_reads_a_known_corpus_by_name(hub_mirror):
    cfg = load_config(None, ["data.hf_dataset=mafand", "data.src_lang=fr", "data.tgt_lang=wol"]).data
    assert read_split(cfg, "dev") == ParallelText(["fr validation 0", "fr validation 1"],
                                                  ["wol validation 0", "wol validation 1"])


# ---------------------------------------------------------------- one-line errors

def test_unknown_name_or_unreachable_hub_is_one_line(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as without a network, without waiting for retries
    line = one_line_error(run_cli("fetch", "no-such/corpus", "--src", "de", "--tgt", "en", "--out", tmp_path))
    assert line.startswith("nmt fetch: error: datasets could not load 'no-such/corpus'") and "multi30k" in line
    line = one_line_error(run_cli("fetch", "multi30", "--out", tmp_path))
    assert "multi30: not one of multi30k, mafand" in line


def test_wrong_pair_or_language_is_one_line(run_cli, tmp_path):
    line = one_line_error(run_cli("fetch", "mafand", "--src", "en", "--tgt", "deu"))
    assert "mafand has no language pair en-deu; it has en-amh, en-hau" in line
    line = one_line_error(run_cli("fetch", "multi30k", "--hf-config", "de-en"))
    assert "leave out the configuration 'de-en'" in line
    saved_dataset(tmp_path / "hub", "translation")
    line = one_line_error(run_cli("fetch", tmp_path / "hub", "--src", "de", "--tgt", "fr", "--out", tmp_path / "o"))
    assert line.endswith("split train: no language 'fr' (it has de, en)")


def test_hf_dataset_missing_split_or_language_is_an_error(tmp_path):
    saved_dataset(tmp_path / "hub", "columns")
    cfg = load_config(None, [f"data.hf_dataset={tmp_path / 'hub'}", "data.tgt_lang=fr"]).data
    with pytest.raises(NmtError, match="no language 'fr' \\(it has de, en\\)"):
        read_split(cfg, "train")
    with pytest.raises(NmtError, match="no split 'test' \\(has train, val\\)"):
        read_split(cfg, "test")
