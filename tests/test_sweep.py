"""Sweeps (`nmt tune-vocab`, `nmt curve`): every cell trained in its own subprocesses, results kept in a
store that an interrupted sweep resumes from without training a finished cell again."""
import argparse
import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nmt.config import load_config
from nmt.errors import NmtError
from nmt.sweep.grid import Cell, ResultsStore, Sweep, parse_sizes, run_cell, run_nmt, side_by_side
from nmt.sweep.report import Column, write_tables

TINY_YAML = """\
name: tiny
data: {src_lang: en, tgt_lang: toy}
tokenizer: {vocab_size: 320}
model: {d_model: 16, heads: 2, encoder_layers: 1, decoder_layers: 1, ff_size: 32}
train:
  batch_tokens: 300
  log_every: 2
  compute: {device: cpu, threads: 1}
  limits: {max_steps: 4}
  validation: {every: 4, size: 8}
decode: {beam: 1, max_len_a: 1.0, max_len_b: 4}
"""


@pytest.fixture
def tiny_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_YAML, encoding="utf-8")
    return path


def read_csv(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_tune_vocab_writes_tables_plot_and_the_winners_config(run_cli, toy_corpus, tiny_yaml, tmp_path):
    out = tmp_path / "tuning"
    r = run_cli("tune-vocab", "--config", tiny_yaml, "--data-dir", toy_corpus, "--out", out, "--sizes", "320,5000",
                "--kinds", "bpe,wordpiece", "--max-time", 60, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = read_csv(out / "vocab.csv")
    assert [(row["kind"], row["size"]) for row in rows] == [("bpe", "320"), ("bpe", "5000"), ("wordpiece", "320"),
                                                            ("wordpiece", "5000")]
    # the toy corpus has too few distinct words for 5000 bpe pieces: that cell fails, saying why, and the rest go on
    assert "Vocabulary size too high" in rows[1]["failed"] and not rows[1]["dev_bleu"]
    assert all(not row["failed"] for row in rows if row is not rows[1])
    for row in (rows[0], rows[2]):  # each run's own statistics, as preprocess wrote them
        run = out / "runs" / f"{row['kind']}-{row['size']}"
        stats = json.loads((run / "stats.json").read_text())["train"]
        assert float(row["src_subwords_per_word"]) == stats["src"]["subwords_per_word"]
        assert int(row["tgt_tokens_p95"]) == stats["tgt"]["tokens_per_sentence"]["p95"]
        assert int(row["src_vocab"]) <= 320 and float(row["tokens_per_s"]) > 0
        events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        valid = [e for e in events if e["event"] == "valid"]
        chosen = next(e for e in valid if e["bleu"] == valid[-1]["best"])  # the first to reach the best
        assert (float(row["dev_bleu"]), float(row["dev_chrf"])) == (chosen["bleu"], chosen["chrf"])
    assert "Vocabulary size too high" in (out / "vocab.md").read_text()
    assert (out / "vocab.png").read_bytes().startswith(b"\x89PNG")
    best = max((row for row in rows if not row["failed"]), key=lambda row: float(row["dev_bleu"]))
    winner = load_config(out / "best.yaml")
    assert (winner.tokenizer.type, winner.tokenizer.vocab_size) == (best["kind"], int(best["size"]))
    assert winner.model == load_config(tiny_yaml).model


def resume_after_a_kill(args, out, first_cell, table=None):
    """Start a sweep, SIGKILL it (and the commands of its second cell) once its first cell is finished, start
    it again, and check that the first cell was not trained again. With `table` (a CSV the sweep writes as
    cells finish), the killed sweep must have left it with the first cell's row."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    sweep = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    results = out / "results.jsonl"
    while not (results.is_file() and results.read_text() and (table is None or table.is_file())):
        assert sweep.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    if table is not None:
        assert len(read_csv(table)) == 1
    first = out / "runs" / first_cell
    finished_model = (first / "best" / "model.safetensors").stat().st_mtime_ns

    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "1 of 2 cells already finished" in r.stderr
    assert (first / "best" / "model.safetensors").stat().st_mtime_ns == finished_model
    assert (out / "runs" / f"{first_cell}.log").read_text().count("$ nmt train") == 1


def test_a_cell_cut_off_while_training_goes_on_from_its_checkpoint_and_ends_as_an_uncut_one(toy_corpus, tiny_yaml,
                                                                                             tmp_path):
    sweep = Sweep.of("curve", tmp_path / "grid", toy_corpus, max_time=600, overrides=["train.limits.max_steps=8"])
    cut, uncut = (Cell(name, {}, tiny_yaml) for name in ("cut", "uncut"))
    # what a sweep killed at update 4 leaves: the cell preprocessed, checkpoints/last.pt of update 4
    run_dir = sweep.run_root / "cut"
    common = ["--config", str(tiny_yaml), "--run-dir", str(run_dir), "--data-dir", str(toy_corpus)]
    run_nmt(tmp_path / "killed.log", "preprocess", *common)
    run_nmt(tmp_path / "killed.log", "train", *common, "--set", "train.limits.max_steps=4")

    records = [run_cell(cut, sweep, resume=True), run_cell(uncut, sweep, resume=True)]
    log = (sweep.run_root / "cut.log").read_text()
    assert "$ nmt preprocess" not in log and log.count("$ nmt train") == log.count("--resume") == 1
    assert records[0]["steps"] == records[1]["steps"] == 8
    assert records[0]["dev_bleu"] == records[1]["dev_bleu"] and records[0]["best_step"] == records[1]["best_step"]
    losses = [[(e["step"], e["loss"]) for e in map(json.loads, (sweep.run_root / name / "metrics.jsonl").open())
               if e["event"] == "train"] for name in ("cut", "uncut")]
    assert losses[0] == losses[1] and [step for step, _ in losses[0]] == [2, 4, 6, 8]


def test_cells_run_side_by_side_each_with_its_share_of_the_cores(run_cli, toy_corpus, tiny_yaml, tmp_path):
    out = tmp_path / "curve"
    r = run_cli("curve", "--configs", tiny_yaml, "--data-dir", toy_corpus, "--out", out, "--words", "300,all",
                "--max-time", 6, "--set", "train.limits.max_steps=0", "--jobs", 2, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = read_csv(out / "curve.csv")
    assert [row["words_asked"] for row in rows] == ["300", "all"] and not any(row["failed"] for row in rows)
    assert int(rows[0]["train_words"]) < int(rows[1]["train_words"])  # a subsample, then every pair
    assert (out / "curve.png").read_bytes().startswith(b"\x89PNG")
    spans = []
    for metrics in sorted((out / "runs").glob("*/metrics.jsonl")):
        log = metrics.parent.with_suffix(".log").read_text()
        assert all(f"--set {share}" in log for share in side_by_side(2))  # half the cores (and of a GPU's memory)
        times = [json.loads(line)["time"] for line in metrics.open()]
        spans.append((min(times), max(times)))
    assert len(spans) == 2 and spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]  # trained at the same time


def test_a_run_told_its_share_of_a_gpu_caps_its_memory_there_and_nowhere_else(monkeypatch):
    import torch

    from nmt.device import share_gpu_memory

    capped = []
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda *call: capped.append(call))
    share_gpu_memory(torch.device("cpu"), 0.5)
    share_gpu_memory(torch.device("cuda", 1), 0.0)  # 0: the whole GPU
    share_gpu_memory(torch.device("cuda", 1), 0.25)
    assert capped == [(0.25, torch.device("cuda", 1))]
    assert side_by_side(1) == () and side_by_side(4)[1] == "train.compute.gpu_memory_share=0.25"


def test_an_interrupted_curve_over_seeds_resumes_without_training_finished_cells(run_cli, toy_corpus, tiny_yaml,
                                                                                  tmp_path):
    out = tmp_path / "curve"
    args = ["curve", "--configs", tiny_yaml, "--data-dir", toy_corpus, "--out", out, "--words", "300",
            "--max-time", 60]
    resume_after_a_kill([sys.executable, "-m", "nmt", *map(str, args), "--seeds", "2"], out, "tiny-300-seed1",
                        table=out / "curve.csv")
    records = ResultsStore(out, json.loads((out / "sweep.json").read_text())).records()
    assert [load_config(out / "runs" / name / "config.yaml").train.seed for name in records] == [1, 2]
    assert all(r["train_words"] == records["tiny-300-seed1"]["train_words"] for r in records.values())  # same pairs
    [row] = read_csv(out / "curve.csv")
    seeds = [records[f"tiny-300-seed{k}"] for k in (1, 2)]
    assert row["seeds"] == "2" and row["test_bleu_per_seed"] == " / ".join(f"{r['test_bleu']:.2f}" for r in seeds)
    assert row["test_bleu"].startswith(f"{(seeds[0]['test_bleu'] + seeds[1]['test_bleu']) / 2:.2f} ± ")
    assert float(row["train_minutes"]) * 60 == pytest.approx(sum(r["train_seconds"] for r in seeds) / 2)
    assert row["early_stopped"] == "0 of 2"  # tiny.yaml stops at its step limit
    assert row["compute"] == "cpu fp32, 1 thread"  # tiny.yaml's; what the minutes were spent on
    for name in records:
        last = json.loads((out / "runs" / name / "metrics.jsonl").read_text().splitlines()[-1])
        assert (last["event"], last["reason"]) == ("end", "max_steps")

    # --seeds is not a setting of the sweep: the same store takes fewer seeds (or more, trained then) later
    r = run_cli(*args, "--seeds", 1, timeout=300)
    assert r.returncode == 0 and "1 of 1 cells already finished" in r.stderr, r.stderr
    assert read_csv(out / "curve.csv")[0]["seeds"] == "1"


def test_a_cell_says_that_early_stopping_ended_it_and_how_long_it_trained(toy_corpus, tiny_yaml, tmp_path):
    sweep = Sweep.of("curve", tmp_path / "grid", toy_corpus, max_time=600,
                     overrides=["train.limits.max_steps=40", "train.validation.every=2", "train.validation.patience=1"])
    record = run_cell(Cell("cell", {}, tiny_yaml), sweep)
    events = [json.loads(line) for line in (sweep.run_root / "cell" / "metrics.jsonl").open()]
    assert (events[-1]["event"], events[-1]["reason"], events[-1]["compute"]) == ("end", "early stopping",
                                                                                 "cpu fp32, 1 thread")
    assert record["train_seconds"] == events[-1]["elapsed"] > 0
    assert record["early_stopped"] and record["steps"] < 40  # a tiny model's dev BLEU stops rising long before


def test_a_sweep_resumes_only_under_the_same_settings(tmp_path):
    ResultsStore(tmp_path, {"max_time": 60, "data_dir": "/d"})
    ResultsStore(tmp_path, {"max_time": 60, "data_dir": "/d"})  # the same: fine
    with pytest.raises(NmtError, match=r"other settings \(max_time 60 -> 120\); use another --out"):
        ResultsStore(tmp_path, {"max_time": 120, "data_dir": "/d"})


def test_results_store_keeps_each_finished_cell(tmp_path):
    store = ResultsStore(tmp_path, {})
    store.add({"cell": "a", "dev_bleu": 1.5})
    store.add({"cell": "b", "failed": "why"})
    assert ResultsStore(tmp_path, {}).records() == {"a": {"cell": "a", "dev_bleu": 1.5},
                                                     "b": {"cell": "b", "failed": "why"}}


def test_tables_show_why_a_cell_failed(tmp_path):
    columns = [Column("kind", "kind"), Column("BLEU", "bleu", "{:.1f}")]
    write_tables(tmp_path / "t", columns, [{"kind": "bpe", "bleu": 12.345}, {"kind": "wordpiece", "failed": "x"}])
    assert (tmp_path / "t.md").read_text().splitlines()[2:] == ["| bpe | 12.3 |  |", "| wordpiece |  | failed: x |"]
    assert read_csv(tmp_path / "t.csv") == [{"kind": "bpe", "bleu": "12.345", "failed": ""},
                                           {"kind": "wordpiece", "bleu": "", "failed": "x"}]


def test_sizes_parse_or_fail_in_one_line():
    assert parse_sizes("1000, 2000", "--sizes") == [1000, 2000]
    assert parse_sizes("10000,all", "--words", allow_all=True) == [10000, 0]
    with pytest.raises(NmtError, match="--sizes 1000,all: 'all' is not a positive number$"):
        parse_sizes("1000,all", "--sizes")
    with pytest.raises(NmtError, match="'-5' is not a positive number or 'all'"):
        parse_sizes("-5", "--words", allow_all=True)


def test_sweep_flags_are_checked_before_any_run(run_cli, toy_corpus, tiny_yaml, tmp_path):
    r = run_cli("tune-vocab", "--config", tiny_yaml, "--data-dir", toy_corpus, "--out", tmp_path / "o",
                "--sizes", "1000", "--kinds", "bpe,morfessor", "--max-time", 5)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "nmt tune-vocab: error: --kinds: unknown tokenizer kind 'morfessor' (choose from bpe, unigram, char, word, "
        "wordpiece)"]
    r = run_cli("curve", "--configs", tiny_yaml, "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "o",
                "--words", "all", "--max-time", 5)
    assert r.returncode == 2 and "--data-dir" in r.stderr and "Traceback" not in r.stderr


def mafand_script():
    spec = importlib.util.spec_from_file_location("mafand", Path(__file__).parent.parent / "scripts" / "mafand.py")
    mafand = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mafand)
    return mafand


def test_the_mafand_table_names_the_recipe_with_the_best_mean_dev_bleu(tmp_path):
    """scripts/mafand.py's table: a row per direction from its runs' records, failed runs left out of the means."""
    mafand = mafand_script()
    (tmp_path / "data" / "en-hau").mkdir(parents=True)
    run = {"words_asked": "all", "train_words": 40_000, "train_pairs": 2_976, "test_chrf": 30.0, "steps": 900,
           "best_step": 700, "tokens_per_s": 2_000, "train_seconds": 600, "early_stopped": True}
    records = [dict(run, config="lowres_bilstm", seed=1, dev_bleu=10.0, test_bleu=5.0),
               dict(run, config="lowres_bilstm", seed=2, dev_bleu=12.0, test_bleu=6.0),
               dict(run, config="lowres_transformer", seed=1, dev_bleu=11.5, test_bleu=9.0),
               dict(run, config="lowres_transformer", seed=2, failed="out of memory")]
    (tmp_path / "out" / "hau-en").mkdir(parents=True)
    (tmp_path / "out" / "hau-en" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    args = argparse.Namespace(configs=mafand.RECIPES, directions=["hau-en"], data_dir=tmp_path / "data",
                              out=tmp_path / "out")
    assert mafand.table(args).splitlines()[-1] == \
        "| hau→en | 2,976 | 5.50 ± 0.71 / 30.00 ± 0.00 (900, 10) | 9.00 / 30.00 (900, 10) | lowres_transformer | 11.3 |"


def test_mafand_trains_a_direction_with_nmt_curve_given_its_languages_jobs_and_settings(tmp_path):
    mafand = mafand_script()
    args = argparse.Namespace(configs=mafand.RECIPES, data_dir=tmp_path / "data", out=tmp_path / "out",
                              max_time=5400.0, seeds=2, jobs=4, overrides=["train.validation.metric=chrf"])
    command = mafand.curve_command("hau", "en", "en-hau", args)
    assert command[1:4] == ["-m", "nmt", "curve"]
    options = " ".join(command[4:])
    assert f"--data-dir {tmp_path / 'data' / 'en-hau'} --out {tmp_path / 'out' / 'hau-en'} --max-time 5400.0" in options
    assert "--words all --seeds 2 --jobs 4 --set data.src_lang=hau --set data.tgt_lang=en " \
           "--set train.validation.metric=chrf" in options
