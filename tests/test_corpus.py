"""Reading and cleaning parallel text: files and Hugging Face datasets."""
import datasets
import pytest

from nmt.config import load_config
from nmt.data.corpus import ParallelText, clean_training_pairs, normalize, read_lines, read_split
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


# ---------------------------------------------------------------- input that real corpora have

def _write(path, data):
    path.write_bytes(data)
    return path


def test_bom_and_crlf_are_not_part_of_the_text(tmp_path):
    path = _write(tmp_path / "train.de", b"\xef\xbb\xbfEin Hund.\r\nZwei Katzen.\r\n")
    assert read_lines(path) == ["Ein Hund.", "Zwei Katzen."]


def test_nul_and_other_control_characters_become_spaces():
    assert normalize("the dog\x00sees\x1b a\x7fcat\x85 \x9f") == "the dog sees a cat"
    assert normalize("\u200dkeeps the zero-width joiner") == "\u200dkeeps the zero-width joiner"


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = _write(tmp_path / "train.de", b"ok\nstill ok\nbad \xff byte\n")
    with pytest.raises(NmtError, match=r"train\.de:3: not valid UTF-8 \(byte 0xff\)"):
        read_lines(path)


def test_skip_invalid_drops_the_pair_and_counts_it(tmp_path):
    _write(tmp_path / "train.de", b"Ein Hund.\nkaputt \xc3\nZwei Katzen.\n")
    _write(tmp_path / "train.en", b"A dog.\nbroken\nTwo \xe9 cats.\n")
    text = read_split(load_config(None, [f"data.dir={tmp_path}", "data.src_lang=de", "data.tgt_lang=en",
                                         "data.skip_invalid=true"]).data, "train")
    assert text == ParallelText(["Ein Hund."], ["A dog."], skipped_invalid=2)


def _preprocess_fails(run_cli, tmp_path, *settings):
    (tmp_path / "defaults.yaml").write_text("")
    r = run_cli("preprocess", "--config", tmp_path / "defaults.yaml", "--data-dir", tmp_path,
                "--run-dir", tmp_path / "run",
                "--set", "tokenizer.vocab_size=300", *[x for s in settings for x in ("--set", s)])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_bad_corpora_are_one_line_errors(run_cli, tmp_path):
    _write(tmp_path / "val.de", b"a\n")
    _write(tmp_path / "val.en", b"b\n")
    _write(tmp_path / "train.de", b"eins\nzwei\n")
    _write(tmp_path / "train.en", b"one\n")
    assert _preprocess_fails(run_cli, tmp_path).endswith("train.de has 2 lines but " f"{tmp_path}/train.en has 1")
    _write(tmp_path / "train.en", b"one\ntw\xffo\n")
    assert _preprocess_fails(run_cli, tmp_path).endswith("train.en:2: not valid UTF-8 (byte 0xff)")
    _write(tmp_path / "train.en", b"one two three four\n\n")  # too long, empty
    message = _preprocess_fails(run_cli, tmp_path, "data.max_words=3")
    assert message.endswith(f"{tmp_path}: no training pairs left after filtering (dropped 1 empty, 1 too long; "
                            "see data.max_words, data.max_length_ratio)")
