"""Reading and cleaning parallel text: files and Hugging Face datasets."""
import datasets
import pytest

from nmt.config import load_config
from nmt.data.corpus import clean_training_pairs, read_split, ParallelText
from nmt.errors import NmtError


def test_files_and_saved_hf_dataset_give_the_same_pairs(tmp_path):
    src = ["Ein Hund läuft.", "Zwei Katzen schlafen."]
    tgt = ["A dog runs.", "Two cats sleep."]
    (tmp_path / "train.de").write_text("".join(s + "\n" for s in src), encoding="utf-8")
    (tmp_path / "train.en").write_text("".join(t + "\n" for t in tgt), encoding="utf-8")
    rows = [{"de": s, "en": t} for s, t in zip(src, tgt)]
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"translation": rows})}).save_to_disk(tmp_path / "hf")

    from_files = read_split(load_config(None, [f"data.dir={tmp_path}"]).data, "train")
    from_hf = read_split(load_config(None, [f"data.hf_dataset={tmp_path / 'hf'}"]).data, "train")
    assert from_files == from_hf == ParallelText(src, tgt)


def test_missing_hf_split_is_a_one_line_error(tmp_path):
    rows = [{"de": "a", "en": "b"}]
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"translation": rows})}).save_to_disk(tmp_path / "hf")
    with pytest.raises(NmtError, match="no split 'val'"):
        read_split(load_config(None, [f"data.hf_dataset={tmp_path / 'hf'}"]).data, "val")


def test_cleaning_normalises_and_counts_each_drop_reason():
    decomposed = "Cafe\u0301  au   lait"  # e + combining acute, extra spaces
    text = ParallelText([decomposed, "", "one two three four five", "x " * 5],
                        ["Café au lait", "empty source", "one", "y " * 200])
    cleaned, dropped = clean_training_pairs(text, max_words=100, max_ratio=3.0)
    assert cleaned.src == ["Caf\u00e9 au lait"]  # NFC composed, single spaces
    assert dropped == {"empty": 1, "length ratio": 1, "too long": 1}
