"""End to end through the command line: preprocess -> train -> translate -> evaluate, in tmp_path."""
import json

import pytest
import sacrebleu

from nmt.data.corpus import read_lines
from nmt.data.toy import write_toy_corpus

CONFIG = """\
name: e2e
data:
  src_lang: en
  tgt_lang: toy
tokenizer:
  vocab_size: 320
model:
  d_model: 16
  heads: 2
  encoder_layers: 1
  decoder_layers: 1
  ff_size: 32
train:
  batch_tokens: 400
  log_every: 10
  optimizer: {lr: 3e-3}
  lr_schedule: {warmup_steps: 5}
  validation: {every: 15, size: 16, patience: 0}
  compute: {device: cpu, threads: 1}
decode:
  beam: 3
  max_len_a: 1.0
  max_len_b: 4
"""


def test_preprocess_train_translate_evaluate(tmp_path, run_cli):
    corpus = write_toy_corpus(tmp_path / "corpus", sizes={"train": 400, "val": 16, "test": 12})
    config = tmp_path / "e2e.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    run = tmp_path / "runs" / "e2e"

    result = run_cli("preprocess", "--config", config, "--data-dir", corpus, "--run-dir", run, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (run / "manifest.json").is_file()

    result = run_cli("train", "--config", config, "--data-dir", corpus, "--run-dir", run,
                     "--set", "train.limits.max_steps=30", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "best dev BLEU" in result.stderr
    for name in ("model.safetensors", "config.json", "tokenizer"):
        assert (run / "best" / name).exists()
    assert (run / "checkpoints" / "last.pt").is_file()
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["step"] for e in events if e["event"] == "valid"] == [15, 30]

    # the input holds an empty and a whitespace-only line (and ends without a final newline)
    sources, references = read_lines(corpus / "test.en"), read_lines(corpus / "test.toy")
    sources[3:3], references[3:3] = [""], [""]
    sources[7:7], references[7:7] = ["  \t "], [""]
    source_file, hyp_file, ref_file = tmp_path / "in.en", tmp_path / "out.toy", tmp_path / "ref.toy"
    source_file.write_text("\n".join(sources), encoding="utf-8")
    ref_file.write_text("".join(r + "\n" for r in references), encoding="utf-8")

    result = run_cli("translate", "--model", run / "best", "--beam", "2", "--input", source_file,
                     "--output", hyp_file, "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    hypotheses = read_lines(hyp_file)
    assert len(hypotheses) == len(sources)
    assert hypotheses[3] == "" and hypotheses[7] == ""
    assert hyp_file.read_text(encoding="utf-8").endswith("\n")

    # stdin -> stdout gives the same lines
    result = run_cli("translate", "--model", run / "best", "--beam", "2", "--device", "cpu",
                     stdin=source_file.read_text(encoding="utf-8"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == hyp_file.read_text(encoding="utf-8")

    result = run_cli("evaluate", "--hyp", hyp_file, "--ref", ref_file, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["bleu"]["score"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score, abs=1e-9)
    assert set(scores) == {"bleu", "chrf"}
