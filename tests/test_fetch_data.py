"""scripts/fetch_data.py on local datasets (the hub is not reachable here): both layouts, split names."""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch_data.py"


@pytest.mark.parametrize("layout", ["columns", "translation"])
def test_both_hub_layouts_become_split_lang_files(tmp_path, layout):
    datasets = pytest.importorskip("datasets")
    rows = {"train": [("Ein Hund.", "A dog."), ("Zwei  Katzen\nspielen.", "Two cats play.")],
            "validation": [("Ein Haus.", "A house.")]}

    def split(pairs):
        if layout == "columns":
            return datasets.Dataset.from_dict({"de": [d for d, _ in pairs], "en": [e for _, e in pairs]})
        return datasets.Dataset.from_dict({"translation": [{"de": d, "en": e} for d, e in pairs]})

    datasets.DatasetDict({name: split(pairs) for name, pairs in rows.items()}).save_to_disk(str(tmp_path / "hub"))
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "hub"), "--src", "de", "--tgt", "en",
                             "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "train.de").read_text() == "Ein Hund.\nZwei Katzen spielen.\n"
    assert (tmp_path / "out" / "train.en").read_text() == "A dog.\nTwo cats play.\n"
    assert (tmp_path / "out" / "val.en").read_text() == "A house.\n"
