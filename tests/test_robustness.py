"""Reliability: bad input to the real `nmt` command, tampered model and checkpoint files, line
alignment of `nmt translate`, and training killed (SIGKILL) at random moments, then resumed.

Everything runs the CLI in subprocesses (`python -m nmt.cli`), as a user would. A failure must be
exit code 2 and a single stderr line `nmt CMD: error: MSG` that names the file or config key,
never a traceback. docs/RELIABILITY.md lists the cases and the messages they get.
"""
import glob
import json
import os
import pathlib
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENV = dict(os.environ)
ENV.update(OMP_NUM_THREADS="1", PYTHONIOENCODING="utf-8")

CONFIG = """\
name: tiny
data: {{dir: {data}, src_lang: en, tgt_lang: toy}}
tokenizer: {{vocab_size: 300}}
model: {{d_model: 16, heads: 2, encoder_layers: 1, decoder_layers: 1, ff_size: 32, max_positions: 64}}
train:
  batch_tokens: 400
  log_every: 1
  limits: {{max_steps: {max_steps}}}
  validation: {{every: {valid_every}}}
  compute: {{device: cpu, threads: 1}}
decode: {{beam: 2, max_len_a: 1.0, max_len_b: 5}}
"""


def nmt(cwd, *args, stdin=None, env=None, preexec_fn=None, timeout=120):
    """Run `python -m nmt.cli ARGS` in `cwd`; stdout stays bytes, stderr is text."""
    r = subprocess.run([sys.executable, "-m", "nmt.cli", *map(str, args)], cwd=cwd, input=stdin,
                       capture_output=True, env=env or ENV, preexec_fn=preexec_fn, timeout=timeout)
    r.stderr = r.stderr.decode("utf-8", errors="replace")
    return r


def fails(cwd, *args, expect=(), **kwargs):
    """Assert that `nmt ARGS` fails with exactly one stderr line naming each of `expect`; returns it."""
    r = nmt(cwd, *args, **kwargs)
    command = next(a for a in map(str, args) if not a.startswith("-"))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"nmt {command}: error: "), r.stderr
    for text in expect:
        assert str(text) in lines[0], (text, lines[0])
    return lines[0]


def write_config(path, data, max_steps=5, valid_every=5):
    path.write_text(CONFIG.format(data=data, max_steps=max_steps, valid_every=valid_every), encoding="utf-8")
    return path


def checkpoint_step(path):
    import torch

    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """data/ (toy corpus), cfg.yaml, pre/ (preprocessed only) and run/ (trained 5 steps, best/ exported)."""
    from nmt.data.toy import write_toy_corpus

    root = tmp_path_factory.mktemp("robust")
    write_toy_corpus(root / "data", sizes={"train": 400, "val": 20, "test": 20})
    write_config(root / "cfg.yaml", root / "data")
    r = nmt(root, "preprocess", "--config", "cfg.yaml", "--run-dir", "pre")
    assert r.returncode == 0, r.stderr
    shutil.copytree(root / "pre", root / "run")
    r = nmt(root, "train", "--config", "cfg.yaml", "--run-dir", "run")
    assert r.returncode == 0, r.stderr
    assert (root / "run/best/model.safetensors").is_file() and (root / "run/checkpoints/last.pt").is_file()
    return root


def copy_data(base, tmp_path):
    return Path(shutil.copytree(base / "data", tmp_path / "data"))


# ---------------------------------------------------------------- config and corpus (`nmt preprocess`)

def test_missing_config(base, tmp_path):
    fails(tmp_path, "preprocess", "--config", "nope.yaml", expect=["nope.yaml: config file not found"])


def test_config_is_a_directory(base, tmp_path):
    (tmp_path / "conf.yaml").mkdir()
    fails(tmp_path, "preprocess", "--config", "conf.yaml", expect=["conf.yaml: is a directory"])


def test_empty_config_names_missing_data(base, tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    fails(tmp_path, "preprocess", "--config", "empty.yaml", expect=["no data: set data.dir"])


def test_invalid_yaml_names_line(base, tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x\ntrain: {max_steps: [1\n")
    fails(tmp_path, "preprocess", "--config", "bad.yaml", expect=["bad.yaml:3: not valid YAML"])


def test_missing_data_file(base, tmp_path):
    data = copy_data(base, tmp_path)
    (data / "train.toy").unlink()
    fails(tmp_path, "preprocess", "--config", base / "cfg.yaml", "--data-dir", data, "--run-dir", "r",
          expect=[f"{data}/train.toy: file not found"])


def test_empty_data_files(base, tmp_path):
    data = copy_data(base, tmp_path)
    (data / "train.en").write_text("")
    (data / "train.toy").write_text("")
    fails(tmp_path, "preprocess", "--config", base / "cfg.yaml", "--data-dir", data, "--run-dir", "r",
          expect=[f"{data}/train.en: file is empty"])


def test_directory_instead_of_data_file(base, tmp_path):
    data = copy_data(base, tmp_path)
    (data / "val.en").unlink()
    (data / "val.en").mkdir()
    r = nmt(tmp_path, "preprocess", "--config", base / "cfg.yaml", "--data-dir", data, "--run-dir", "r")
    # the train split is read (and reported) before the dev split: the error is the last line
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == f"nmt preprocess: error: {data}/val.en: is a directory, not a file"


def test_invalid_utf8_names_file_and_line(base, tmp_path):
    data = copy_data(base, tmp_path)
    lines = (data / "train.toy").read_bytes().split(b"\n")
    lines[6] = b"Lo vasku \xff\xfe vidas."
    (data / "train.toy").write_bytes(b"\n".join(lines))
    fails(tmp_path, "preprocess", "--config", base / "cfg.yaml", "--data-dir", data, "--run-dir", "r",
          expect=[f"{data}/train.toy:7: not valid UTF-8 (byte 0xff)"])


def test_mismatched_line_counts_name_both_files(base, tmp_path):
    data = copy_data(base, tmp_path)
    with open(data / "train.toy", "a", encoding="utf-8") as f:
        f.write("Na pipa.\n")
    fails(tmp_path, "preprocess", "--config", base / "cfg.yaml", "--data-dir", data, "--run-dir", "r",
          expect=[f"{data}/train.en has 400 lines but {data}/train.toy has 401"])


def test_evaluate_mismatched_and_undecodable_files(base, tmp_path):
    (tmp_path / "hyp.txt").write_bytes(b"a\nb\n")
    (tmp_path / "ref.txt").write_bytes(b"a\nb\nc\n")
    fails(tmp_path, "evaluate", "--hyp", "hyp.txt", "--ref", "ref.txt",
          expect=["hyp.txt has 2 lines but ref.txt has 3"])
    (tmp_path / "ref.txt").write_bytes(b"a\n\xe9\n")
    fails(tmp_path, "evaluate", "--hyp", "hyp.txt", "--ref", "ref.txt",
          expect=["ref.txt:2: not valid UTF-8 (byte 0xe9)"])


@pytest.mark.parametrize("overrides, expect", [
    (["train.limits.max_step=3"], "unknown config key train.limits.max_step (did you mean train.limits.max_steps?)"),
    (["model.layers=2"], "unknown config key model.layers"),
    (["train.limits.max_steps=abc"], "config key train.limits.max_steps: input should be a valid integer, got 'abc'"),
    (["tokenizer.joint=maybe"], "config key tokenizer.joint: input should be a valid boolean, got 'maybe'"),
    (["model.dropout=-0.1"], "config key model.dropout: input should be greater than or equal to 0, got -0.1"),
    (["tokenizer.vocab_size=3"],
     "config key tokenizer.vocab_size: must be at least 300 for type bpe"),
    (["decode.beam=0"], "config key decode.beam: input should be greater than or equal to 1, got 0"),
    (["train.lr"], "--set 'train.lr': expected section.key=value"),
], ids=["unknown-key", "unknown-key-2", "wrong-type-int", "wrong-type-bool", "negative-dropout",
        "vocab-below-specials", "beam-0-config", "set-without-value"])
def test_bad_config_values(base, tmp_path, overrides, expect):
    args = [a for o in overrides for a in ("--set", o)]
    fails(tmp_path, "preprocess", "--config", base / "cfg.yaml", "--run-dir", "r", *args, expect=[expect])


def test_unknown_key_in_yaml_file(base, tmp_path):
    text = (base / "cfg.yaml").read_text().replace("max_steps:", "max_step:")
    (tmp_path / "typo.yaml").write_text(text)
    fails(tmp_path, "preprocess", "--config", "typo.yaml", "--run-dir", "r",
          expect=["typo.yaml: unknown config key train.limits.max_step (did you mean train.limits.max_steps?)"])


# ---------------------------------------------------------------- run directory (`nmt train`)

def test_train_before_preprocess(base, tmp_path):
    fails(tmp_path, "train", "--config", base / "cfg.yaml", "--run-dir", "r",
          expect=["r: no complete preprocessed data (run `nmt preprocess` first)"])


def test_resume_without_checkpoint(base, tmp_path):
    shutil.copytree(base / "pre", tmp_path / "r")
    fails(tmp_path, "train", "--run-dir", "r", "--resume",
          expect=["r/checkpoints/last.pt: no checkpoint to resume from"])


def test_data_changed_after_preprocessing(base, tmp_path):
    shutil.copytree(base / "pre", tmp_path / "r")
    with open(tmp_path / "r/data/valid.ref.txt", "a", encoding="utf-8") as f:
        f.write("Lo vasku vidas.\n")
    fails(tmp_path, "train", "--run-dir", "r",
          expect=["r/data/valid.ref.txt: missing or changed since preprocessing; run `nmt preprocess` again"])


def test_manifest_not_json(base, tmp_path):
    shutil.copytree(base / "pre", tmp_path / "r")
    (tmp_path / "r/manifest.json").write_text('{"files": ')
    fails(tmp_path, "train", "--run-dir", "r",
          expect=["r/manifest.json: not a valid manifest; run `nmt preprocess` again"])


def test_resume_with_different_vocabulary(base, tmp_path):
    shutil.copytree(base / "run", tmp_path / "r")
    r = nmt(tmp_path, "preprocess", "--config", base / "cfg.yaml", "--run-dir", "r",
            "--set", "tokenizer.vocab_size=320")
    assert r.returncode == 0, r.stderr
    fails(tmp_path, "train", "--run-dir", "r", "--resume",
          expect=["r/checkpoints/last.pt: trained with vocabulary sizes [300, 300], "
                  "but the run's tokenizer has [320, 320]"])


def test_refused_resume_keeps_the_runs_config(base, tmp_path):
    shutil.copytree(base / "run", tmp_path / "r")
    before = (tmp_path / "r/config.yaml").read_text()
    fails(tmp_path, "train", "--run-dir", "r", "--resume", "--set", "model.ff_size=64",
          expect=["r/checkpoints/last.pt: the model section of the config differs from the checkpoint's"])
    assert (tmp_path / "r/config.yaml").read_text() == before


def test_train_on_missing_cuda(base, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    shutil.copytree(base / "pre", tmp_path / "r")
    fails(tmp_path, "train", "--run-dir", "r", "--set", "train.compute.device=cuda",
          expect=["device 'cuda' requested, but CUDA is not available on this machine"])


@pytest.mark.parametrize("where", ["after", "before"])
def test_debug_shows_the_traceback(base, tmp_path, where):
    args = ["train", "--debug"] if where == "after" else ["--debug", "train"]
    r = nmt(tmp_path, *args, "--config", base / "cfg.yaml", "--run-dir", "r")
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "NmtError: r: no complete preprocessed data" in r.stderr


def test_disk_full_while_saving_checkpoint_keeps_the_old_one(base, tmp_path):
    """A write limit (RLIMIT_FSIZE, like a full disk) makes the checkpoint save fail: one line, old file intact."""
    resource = pytest.importorskip("resource")
    shutil.copytree(base / "run", tmp_path / "r")
    limit = 60_000  # above every file training writes except the checkpoint (~180 kB)

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    fails(tmp_path, "train", "--run-dir", "r", "--resume", "--set", "train.limits.max_steps=10",
          "--set", "train.log_every=100", preexec_fn=limit_file_size,
          expect=["r/checkpoints/last.pt: could not write the checkpoint (is the disk full? ",
                  "the previous one is kept"])
    assert checkpoint_step(tmp_path / "r/checkpoints/last.pt") == 5
    assert not glob.glob(str(tmp_path / "r/checkpoints/.*"))


# ---------------------------------------------------------------- tampered checkpoints (`nmt train --resume`)

class TouchPayload:
    """Unpickling this creates a file: what a malicious checkpoint would do (harmlessly)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.target),)


class ShellPayload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_checkpoint_with_code_payload_is_refused_and_not_run(base, tmp_path, writer):
    import torch

    shutil.copytree(base / "run", tmp_path / "r")
    ckpt, target = tmp_path / "r/checkpoints/last.pt", tmp_path / "pwned"
    state = torch.load(ckpt, weights_only=True)
    if writer == "torch.save":
        state["step"] = TouchPayload(target)
        torch.save(state, ckpt)
    else:
        state["step"] = ShellPayload(target)
        with open(ckpt, "wb") as f:
            pickle.dump(state, f, protocol=4)
    # the payload is live: unpickling the file without torch's weights_only guard runs it
    if writer == "torch.save":
        torch.load(ckpt, weights_only=False)
    else:
        with open(ckpt, "rb") as f:
            pickle.load(f)
    assert target.exists()
    target.unlink()

    fails(tmp_path, "train", "--run-dir", "r", "--resume",
          expect=["r/checkpoints/last.pt: not a loadable checkpoint (refused to unpickle objects other than "
                  "tensors and plain data"])
    assert not target.exists()


@pytest.mark.parametrize("keep", [0, 1000, 5000])
def test_truncated_checkpoint(base, tmp_path, keep):
    shutil.copytree(base / "run", tmp_path / "r")
    ckpt = tmp_path / "r/checkpoints/last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:keep])
    fails(tmp_path, "train", "--run-dir", "r", "--resume",
          expect=["r/checkpoints/last.pt: not a loadable checkpoint (truncated or corrupt: "])


def test_checkpoint_of_something_else(base, tmp_path):
    import torch

    shutil.copytree(base / "run", tmp_path / "r")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "r/checkpoints/last.pt")
    fails(tmp_path, "train", "--run-dir", "r", "--resume",
          expect=["r/checkpoints/last.pt: not a checkpoint written by `nmt train` (no 'vocab' entry)"])


def test_checkpoint_with_wrong_weight_shape(base, tmp_path):
    import torch

    shutil.copytree(base / "run", tmp_path / "r")
    ckpt = tmp_path / "r/checkpoints/last.pt"
    state = torch.load(ckpt, weights_only=True)
    state["model"]["decoder_norm.weight"] = state["model"]["decoder_norm.weight"][:-1].clone()
    torch.save(state, ckpt)
    fails(tmp_path, "train", "--run-dir", "r", "--resume",
          expect=["r/checkpoints/last.pt: damaged checkpoint (RuntimeError: size mismatch for decoder_norm.weight"])


# ---------------------------------------------------------------- tampered model directory (`nmt translate`)

@pytest.fixture
def model_copy(base, tmp_path):
    shutil.copytree(base / "run/best", tmp_path / "m")
    (tmp_path / "in.txt").write_text("The dog sees a cat.\n")
    return tmp_path / "m"


def translate_fails(model_copy, *extra, expect):
    return fails(model_copy.parent, "translate", "--model", "m", "--input", "in.txt", *extra, expect=expect)


def test_model_without_weights(model_copy):
    (model_copy / "model.safetensors").unlink()
    translate_fails(model_copy, expect=["m: incomplete model directory, model.safetensors is missing"])


def test_model_without_config(model_copy):
    (model_copy / "config.json").unlink()
    translate_fails(model_copy, expect=["m: incomplete model directory, config.json is missing"])


def test_model_weights_with_wrong_shape(model_copy):
    from safetensors.numpy import load_file, save_file

    weights = load_file(model_copy / "model.safetensors")
    weights["decoder_norm.bias"] = weights["decoder_norm.bias"][:-1].copy()
    save_file(weights, model_copy / "model.safetensors")
    translate_fails(model_copy, expect=["m/model.safetensors: tensor decoder_norm.bias has shape [15], "
                                        "but config.json describes [16]"])


def test_model_weights_not_safetensors(model_copy):
    (model_copy / "model.safetensors").write_bytes(b"\x80\x02}q\x00.")
    translate_fails(model_copy, expect=["m/model.safetensors: not a readable safetensors file"])


def test_model_config_not_json(model_copy):
    (model_copy / "config.json").write_text('{"format": 1,')
    translate_fails(model_copy, expect=["m/config.json: invalid model config"])


def test_model_config_with_unknown_key(model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    config["model"]["layers"] = 3
    (model_copy / "config.json").write_text(json.dumps(config))
    translate_fails(model_copy, expect=["m/config.json: invalid model config (unknown config key model.layers"])


def test_model_tokenizer_corrupt(model_copy):
    (model_copy / "tokenizer/joint.model").write_bytes(b"not a sentencepiece model")
    translate_fails(model_copy, expect=["m/tokenizer/joint.model: not a readable sentencepiece model"])


def test_translate_missing_model_and_input(base, tmp_path):
    (tmp_path / "in.txt").write_text("x\n")
    fails(tmp_path, "translate", "--model", "nowhere", "--input", "in.txt",
          expect=["nowhere: model directory not found"])
    fails(tmp_path, "translate", "--model", base / "run/best", "--input", "missing.txt",
          expect=["missing.txt: file not found"])


@pytest.mark.parametrize("args, expect", [
    (["--beam", "0"], "--beam: Input should be greater than or equal to 1"),
    (["--batch-size", "0"], "--batch-size: Input should be greater than or equal to 1"),
    (["--lenpen", "-1"], "--lenpen: Input should be greater than or equal to 0"),
    (["--output", "."], "--output .: is a directory, not a file"),
    (["--device", "cuda"], "device 'cuda' requested, but CUDA is not available on this machine"),
], ids=["beam-0", "batch-size-0", "negative-lenpen", "output-is-dir", "missing-cuda"])
def test_translate_bad_options(base, tmp_path, args, expect):
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    (tmp_path / "in.txt").write_text("x\n")
    fails(tmp_path, "translate", "--model", base / "run/best", "--input", "in.txt", *args, expect=[expect])


# ---------------------------------------------------------------- translate never drops or shifts lines

ODD_LINES = [
    b"The dog sees a cat.",
    b"",
    b"   \t ",
    ("the big dog sees my small cat " * 400)[:10_000].encode(),  # far beyond max_positions: truncated
    b"the dog\x1csees a cat",         # file separator: a line break for str.splitlines
    b"the dog\x0bsees a cat",         # vertical tab
    "the dog\u2028sees a cat".encode(),  # Unicode line separator
    b"the dog\x00sees a cat",         # NUL
    b"the dog \xff\xfe sees \xc3",    # invalid UTF-8
    b"\x0c",                          # form feed only
    "\u2028\x85".encode(),            # Unicode breaks only
    b"\r",                            # a stray carriage return (CRLF remains)
    b"",
    b"A cat.",
]
BLANK = {1, 2, 9, 10, 11, 12}  # lines with no text: their translations must be empty


def assert_aligned(stdout, n_best=0):
    out = stdout.decode("utf-8").split("\n")
    assert out[-1] == "" and len(out) - 1 == len(ODD_LINES), out
    for i, line in enumerate(out[:-1]):
        if n_best:  # n (translation, score) columns on every line, empty translations for blank input
            fields = line.split("\t")
            assert len(fields) == 2 * n_best, (i, line)
            assert i not in BLANK or fields[0::2] == [""] * n_best, (i, line)
        else:
            assert i not in BLANK or line == "", (i, line)


@pytest.mark.parametrize("mode", ["file", "stdin-nbest"])
def test_translate_keeps_one_output_line_per_input_line(base, tmp_path, mode):
    data = b"\n".join(ODD_LINES) + b"\n"
    if mode == "file":
        (tmp_path / "odd.txt").write_bytes(data)
        r = nmt(tmp_path, "translate", "--model", base / "run/best", "--input", "odd.txt", "--output", "out.txt")
        stdout = (tmp_path / "out.txt").read_bytes()
    else:
        r = nmt(tmp_path, "translate", "--model", base / "run/best", "--beam", "2", "--n-best", "2", stdin=data)
        stdout = r.stdout
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "warning: 1 input lines were longer than the model's 63 source tokens and were truncated" in r.stderr
    assert_aligned(stdout, n_best=0 if mode == "file" else 2)


def test_translate_output_with_line_breaks_stays_one_line(base, tmp_path):
    """A model that only ever emits the byte piece for "\\n" must not add output lines."""
    import numpy as np
    import sentencepiece as spm
    from safetensors.numpy import load_file, save_file

    model = Path(shutil.copytree(base / "run/best", tmp_path / "m"))
    newline = spm.SentencePieceProcessor(model_file=str(model / "tokenizer/joint.model")).piece_to_id("<0x0A>")
    weights = load_file(model / "model.safetensors")
    # the decoder's final norm outputs the constant unit vector e0; only the newline piece scores on e0
    weights["decoder_norm.weight"] = np.zeros_like(weights["decoder_norm.weight"])
    weights["decoder_norm.bias"] = np.eye(1, weights["decoder_norm.bias"].shape[0], dtype=np.float32)[0]
    weights["output.weight"][:, 0] = 0.0
    weights["output.weight"][newline, 0] = 10.0
    save_file(weights, model / "model.safetensors")
    r = nmt(tmp_path, "translate", "--model", "m", "--beam", "1", stdin=b"The dog sees a cat.\n\nA cat.\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode("utf-8").split("\n")
    assert len(out) == 4 and out[1] == "" and out[3] == "", out
    assert out[0].strip() == "" and len(out[0]) > 3  # the newlines came out as spaces


# ---------------------------------------------------------------- SIGKILL at random moments, then resume

# `python -c` program: the nmt command line with every os.replace (the commit of nmt/atomic.py's writes)
# delayed, so that a kill can land in the middle of a save
SLOW_RENAME_CLI = """
import os, runpy, time
replace = os.replace
def slow_replace(*args, **kwargs):
    time.sleep({seconds})
    return replace(*args, **kwargs)
os.replace = slow_replace
runpy.run_module("nmt.cli", run_name="__main__", alter_sys=True)
"""


def launch(cwd, args, log, slow_rename=None):
    program = ["-c", SLOW_RENAME_CLI.format(seconds=slow_rename)] if slow_rename else ["-m", "nmt.cli"]
    with open(log, "ab") as f:
        return subprocess.Popen([sys.executable, *program, *map(str, args)], cwd=cwd, env=ENV,
                                stdout=f, stderr=subprocess.STDOUT)


def wait_until(condition, proc, timeout=60):
    """Poll `condition` until true (True), or until `proc` exits first (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return condition()
        time.sleep(0.003)
    raise AssertionError("timed out waiting for the training process")


def last_logged_step(metrics, offset=0):
    """The step of the last metrics.jsonl event written after byte `offset` (0: none)."""
    step = 0
    if metrics.is_file():
        with open(metrics, "rb") as f:
            f.seek(offset)
            for line in f.read().decode("utf-8").splitlines():
                step = json.loads(line)["step"]
    return step


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_training_killed_at_random_moments_resumes_and_finishes(base, tmp_path):
    max_steps, seed = 30, int(os.environ.get("NMT_TEST_KILL_SEED", "1"))
    rng = random.Random(seed)
    cfg = write_config(tmp_path / "cfg.yaml", base / "data", max_steps=max_steps, valid_every=5)
    run = Path(shutil.copytree(base / "pre", tmp_path / "run"))
    ckpt, metrics, log = run / "checkpoints/last.pt", run / "metrics.jsonl", tmp_path / "train.log"
    kills = []

    def start(slow_rename=None):
        """Launch training (resuming when there is a checkpoint); returns the process, the checkpoint's
        step and where this launch's events start in metrics.jsonl."""
        step = checkpoint_step(ckpt) if ckpt.exists() else 0
        offset = metrics.stat().st_size if metrics.exists() else 0
        args = ["train", "--config", cfg, "--run-dir", run] + (["--resume"] if ckpt.exists() else [])
        return launch(tmp_path, args, log, slow_rename), step, offset

    def after_kill(moment, proc, step_before):
        assert proc.returncode == -signal.SIGKILL, f"{moment}: the run ended before the kill (see {log})"
        step_after = checkpoint_step(ckpt) if ckpt.exists() else None  # loads with weights_only=True
        kills.append(f"{moment}: logged step {last_logged_step(metrics)}, last.pt step {step_before} -> {step_after}")
        return step_after

    # 1. during start-up (imports, loading the data), before any step
    proc, before, _ = start()
    time.sleep(rng.uniform(0.05, 1.0))
    kill(proc)
    after_kill("start-up", proc, before)

    # 2-4. mid-training, a random number of steps past the checkpoint it resumed from
    for _ in range(3):
        proc, before, offset = start()
        target = min(before + rng.randint(1, 9), max_steps - 1)
        wait_until(lambda: last_logged_step(metrics, offset) >= target, proc)
        time.sleep(rng.uniform(0.0, 0.05))
        kill(proc)
        after_kill(f"training, after step {target}", proc, before)

    # 5. if every kill so far came before the first checkpoint: just after it is written
    if not ckpt.exists():
        proc, before, _ = start()
        wait_until(ckpt.exists, proc)
        time.sleep(rng.uniform(0.0, 0.05))
        kill(proc)
        after_kill("just after the first checkpoint", proc, before)

    # 6. inside a checkpoint save: the temporary file is written, the rename not yet done
    proc, before, _ = start(slow_rename=1.0)
    wait_until(lambda: glob.glob(str(ckpt.parent / ".last.pt.*.tmp")), proc)
    time.sleep(rng.uniform(0.0, 0.3))
    kill(proc)
    after = after_kill("inside the checkpoint save", proc, before)
    assert glob.glob(str(ckpt.parent / ".last.pt.*.tmp")), "the kill missed the save"
    assert after == before  # the old, complete checkpoint (the new one was never renamed in)

    # 7. resume to the end
    proc, before, _ = start()
    assert proc.wait(timeout=120) == 0, log.read_text()
    assert checkpoint_step(ckpt) == max_steps
    assert not glob.glob(str(ckpt.parent / ".*.tmp")), "stale temporary checkpoint left behind"
    valids = [json.loads(line) for line in metrics.read_text().splitlines() if '"valid"' in line]
    assert valids[-1]["step"] == max_steps
    r = nmt(tmp_path, "translate", "--model", run / "best", stdin=b"The dog sees a cat.\n\nA cat.\n")
    assert r.returncode == 0 and r.stdout.count(b"\n") == 3, r.stderr
    print(f"\nkill/resume (seed {seed}):\n  " + "\n  ".join(kills) + f"\n  resumed from step {before} to {max_steps}")


def test_kill_between_the_renames_of_the_best_model_swap(base, tmp_path):
    """best/ is replaced by two renames (best -> .best.old, new -> best); a kill between them leaves
    only .best.old, and the next `nmt train` puts it back."""
    run = Path(shutil.copytree(base / "run", tmp_path / "run"))
    old = run / ".best.old"
    # a fresh run (no --resume) improves on its first validation, so it exports best/
    proc = launch(tmp_path, ["train", "--run-dir", run, "--set", "train.limits.max_steps=2",
                             "--set", "train.validation.every=2"],
                  tmp_path / "train.log", slow_rename=0.5)
    assert wait_until(lambda: old.exists() and not (run / "best").exists(), proc)
    kill(proc)
    assert not (run / "best").exists() and old.exists()
    r = nmt(tmp_path, "train", "--run-dir", run, "--resume")
    assert r.returncode == 0, r.stderr
    assert (run / "best/model.safetensors").is_file() and not old.exists()
    r = nmt(tmp_path, "translate", "--model", run / "best", stdin=b"A cat.\n")
    assert r.returncode == 0 and r.stdout.count(b"\n") == 1, r.stderr


def test_preprocess_killed_midway_leaves_nothing_train_accepts(base, tmp_path):
    """Re-preprocessing a run, killed at random moments (renames slowed so kills land inside it):
    the manifest goes first and comes back last, so `train` refuses the run until a preprocess completes."""
    rng = random.Random(int(os.environ.get("NMT_TEST_KILL_SEED", "1")))
    cfg = write_config(tmp_path / "cfg.yaml", base / "data", max_steps=1, valid_every=1)
    run, log = Path(shutil.copytree(base / "pre", tmp_path / "run")), tmp_path / "preprocess.log"
    manifest = run / "manifest.json"
    for moment in (rng.uniform(0.1, 2.0) for _ in range(3)):  # a whole slowed preprocess takes > 3 s
        proc = launch(tmp_path, ["preprocess", "--config", cfg, "--run-dir", run], log, slow_rename=0.3)
        wait_until(lambda: not manifest.exists(), proc)  # preprocessing has begun: the old manifest is gone
        time.sleep(moment)
        kill(proc)
        assert proc.returncode == -signal.SIGKILL and not manifest.exists(), f"preprocess finished before {moment:.1f}s"
        fails(tmp_path, "train", "--config", cfg, "--run-dir", run, expect=["no complete preprocessed data"])
    assert nmt(tmp_path, "preprocess", "--config", cfg, "--run-dir", run).returncode == 0
    assert nmt(tmp_path, "train", "--config", cfg, "--run-dir", run).returncode == 0


def test_data_of_the_same_size_changed_after_preprocessing(base, tmp_path):
    """A file whose size stayed but whose time changed is read through to its hash."""
    shutil.copytree(base / "pre", tmp_path / "r")
    path = tmp_path / "r/data/valid.ref.txt"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:-2] + ("x" if text[-2] != "x" else "y") + "\n", encoding="utf-8")
    fails(tmp_path, "train", "--run-dir", "r",
          expect=["r/data/valid.ref.txt: missing or changed since preprocessing; run `nmt preprocess` again"])


def test_training_reads_the_data_through_only_where_a_files_time_changed(base, tmp_path, monkeypatch):
    """Starting a run checks sizes and times; only a file whose time differs from the manifest's (a copied
    run directory) is hashed, and it passes when its bytes are the same."""
    from nmt.data import dataset

    run = shutil.copytree(base / "pre", tmp_path / "r", copy_function=shutil.copy2)  # times kept
    hashed = []
    hash_file = dataset._sha256
    monkeypatch.setattr(dataset, "_sha256", lambda path: hashed.append(path.name) or hash_file(path))
    dataset.verify_manifest(run)
    assert hashed == []
    (run / "data/valid.ref.txt").write_bytes((run / "data/valid.ref.txt").read_bytes())  # a new time
    dataset.verify_manifest(run)
    assert hashed == ["valid.ref.txt"]
