"""A grid of training runs ("cells") with one budget, and the store of their results.

Each cell is `nmt preprocess`, `nmt train --max-time S` and, where the sweep scores a test split,
`nmt translate`, each a subprocess: seeds, threads and memory of one run cannot leak into the next.
A cell is finished once its record is a line of OUT/results.jsonl. A sweep started again skips the
finished cells; a cell cut off while training goes on from its checkpoints/last.pt (`nmt train
--resume` restores the training time spent, so the cell keeps the others' budget, and an early-stopped
cell ends where an uncut one would); the rest start from scratch. A cell whose command exits with a
user error (a vocabulary too large for the data, say) is recorded as failed, with the reason, and
skipped.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from nmt import atomic
from nmt.data.corpus import read_lines
from nmt.device import cores_each
from nmt.errors import NmtError
from nmt.evaluate import score_corpus
from nmt.rundir import RunDir

USER_ERROR = 2  # the exit code of `nmt` for an NmtError
WATCH_SECONDS = 1.0  # between two calls of a running command's watch


@dataclass(frozen=True)
class Cell:
    name: str                 # unique in the grid; also its run directory's name
    labels: dict              # what varies between cells, e.g. {"kind": "bpe", "size": 4000}
    config: Path
    overrides: tuple = ()     # --set KEY=VALUE of this cell


@dataclass(frozen=True)
class Sweep:
    """What every cell of a grid shares."""
    out: Path
    data_dir: Path
    max_time: float
    overrides: tuple = ()     # --set of every cell
    test_split: str = ""      # scored with the best model when set
    settings: dict = field(default_factory=dict)  # the sweep's own arguments, checked on resume
    jobs: int = 1             # cells side by side, each with its share of the cores (free to change on resume)

    @classmethod
    def of(cls, command, out, data_dir, max_time, overrides=(), jobs=1, **settings):
        """A sweep whose settings record the command and all that its cells share (`settings` holds the
        command's own arguments, test_split among them when it scores a test split)."""
        if max_time <= 0:
            raise NmtError("--max-time must be > 0")
        if jobs < 1:
            raise NmtError("--jobs must be at least 1")
        if not Path(data_dir).is_dir():
            raise NmtError(f"--data-dir {data_dir}: not a folder")
        data_dir = Path(data_dir).resolve()
        shared = {"command": command, "data_dir": str(data_dir), "max_time": max_time, "overrides": list(overrides),
                  **settings}
        return cls(Path(out), data_dir, max_time, tuple(overrides), settings.get("test_split", ""), shared, jobs)

    @property
    def run_root(self):
        return self.out / "runs"


class ResultsStore:
    """OUT/results.jsonl (a line per finished cell, appended in one write, so a kill leaves whole lines)
    and OUT/sweep.json (the settings the cells share: a grid resumes only under the same ones)."""

    def __init__(self, out, settings):
        self.path = Path(out) / "results.jsonl"
        settings_path = Path(out) / "sweep.json"
        Path(out).mkdir(parents=True, exist_ok=True)
        if settings_path.is_file():
            saved = json.loads(settings_path.read_text(encoding="utf-8"))
            if saved != settings:
                changed = ", ".join(f"{k} {saved.get(k)!r} -> {settings.get(k)!r}"
                                    for k in sorted(set(saved) | set(settings)) if saved.get(k) != settings.get(k))
                raise NmtError(f"{out}: holds a sweep with other settings ({changed}); use another --out")
        else:
            atomic.write_text(settings_path, json.dumps(settings, indent=2))

    def records(self):
        """{cell name: record} of the finished cells."""
        if not self.path.is_file():
            return {}
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return {record["cell"]: record for record in map(json.loads, filter(None, lines))}

    def add(self, record):
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
        finally:
            os.close(fd)


def parse_sizes(text, flag, allow_all=False):
    """'1000,2000' -> [1000, 2000]; with `allow_all`, 'all' -> 0 (data.train_words' "every pair")."""
    sizes = []
    for item in map(str.strip, text.split(",")):
        if item.isdigit() and int(item) > 0:
            sizes.append(int(item))
        elif item == "all" and allow_all:
            sizes.append(0)
        else:
            raise NmtError(f"{flag} {text}: {item!r} is not a positive number" + (" or 'all'" if allow_all else ""))
    return sizes


def run_grid(cells, sweep, log=print, report=None):
    """Train every cell not yet in the store, `sweep.jobs` side by side; returns the records of all cells,
    in grid order. `report(records)`, if given, is called with the finished cells' records (grid order)
    after each cell is stored, so that a grid cut off has the tables of what it finished."""
    store = ResultsStore(sweep.out, sweep.settings)
    done = store.records()
    todo = [cell for cell in cells if cell.name not in done]
    if len(todo) < len(cells):
        log(f"{len(cells) - len(todo)} of {len(cells)} cells already finished in {store.path}")
    share = side_by_side(sweep.jobs)
    spent, storing = [], threading.Lock()

    def train(number, cell):
        log(f"[{len(cells) - len(todo) + number + 1}/{len(cells)}] {cell.name}: "
            f"{_eta(spent, len(todo) - number, sweep)}")
        tick = time.monotonic()
        record = {"cell": cell.name, **cell.labels,
                  **run_cell(replace(cell, overrides=cell.overrides + share), sweep, resume=True)}
        spent.append(time.monotonic() - tick)
        with storing:  # one report at a time, each with every record stored before it
            store.add(record)
            done[cell.name] = record
            if report:
                report([done[c.name] for c in cells if c.name in done])
        log(f"    {cell.name}: " + (f"failed: {record['failed']}" if "failed" in record else
                                     f"dev BLEU {record['dev_bleu']:.2f}" +
                                     (f", test BLEU {record['test_bleu']:.2f}" if "test_bleu" in record else "")))

    # threads are enough to run cells side by side: a cell's work is done by its subprocesses
    with ThreadPoolExecutor(sweep.jobs) as pool:
        futures = [pool.submit(train, number, cell) for number, cell in enumerate(todo)]
        try:
            for future in futures:
                future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)  # a crash or Ctrl-C: no other cell starts
            raise
    return [done[cell.name] for cell in cells]


def seed_range(seeds):
    """Seeds 1..`seeds` of --seeds N."""
    if seeds < 1:
        raise NmtError("--seeds must be at least 1")
    return range(1, seeds + 1)


def side_by_side(jobs):
    """The --set of each of `jobs` runs side by side: its share of the cores and, on a GPU, of its memory
    (nothing for one run: it takes all)."""
    if jobs == 1:
        return ()
    return f"train.compute.threads={cores_each(jobs)}", f"train.compute.gpu_memory_share={1 / jobs:.4g}"


def _eta(spent, cells_left, sweep):
    """How long the cells left take: the mean of those run so far, or the budget plus a guess at the rest,
    `sweep.jobs` at a time."""
    per_cell = sum(spent) / len(spent) if spent else sweep.max_time * 1.1 + 30
    left = -(-cells_left // sweep.jobs) * per_cell
    return f"training {sweep.max_time:g} s; about {f'{left / 60:.0f} min' if left >= 120 else f'{left:.0f} s'} " \
           "left in the sweep"


def run_cell(cell, sweep, watch_training=None, resume=False):
    """Preprocess, train and score one cell in a fresh run directory; its measurements, or {"failed": why}.
    With `resume`, a run directory that holds a checkpoint (the same cell, cut off while training) goes on
    from it instead (a study's trials never resume: their names are never reused, their settings drawn anew).
    `watch_training(run_dir)`, if given, is called about once a second while the cell trains; an exception
    it raises stops the training and leaves the cell unfinished."""
    run_dir = sweep.run_root / cell.name
    resume = resume and RunDir(run_dir).checkpoint.is_file()
    if not resume:
        shutil.rmtree(run_dir, ignore_errors=True)  # what an interrupted sweep left before training began
        run_dir.mkdir(parents=True)
    log_path = run_dir.parent / f"{cell.name}.log"
    common = ["--config", str(cell.config), "--run-dir", str(run_dir), "--data-dir", str(sweep.data_dir)]
    for override in (*sweep.overrides, *cell.overrides):
        common += ["--set", override]
    try:
        if not resume:
            run_nmt(log_path, "preprocess", *common)
        watch = watch_training and (lambda: watch_training(run_dir))
        run_nmt(log_path, "train", *common, *(["--resume"] * resume), "--max-time", str(sweep.max_time), watch=watch)
        record = measure_run(run_dir)
        if sweep.test_split:
            record.update(score_test_split(run_dir, sweep, log_path))
    except CellFailed as e:
        return {"failed": str(e)}
    return record


class CellFailed(Exception):
    """A command of the cell stopped with a user error: the cell is recorded as failed."""


def run_nmt(log_path, command, *args, watch=None):
    """`nmt COMMAND ARGS` in a subprocess, its output appended to `log_path`; a user error raises CellFailed.
    `watch()` is called about once a second while it runs; what it raises stops the command (SIGTERM, so
    that training keeps its last update) and is raised again."""
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ nmt {command} {' '.join(args)}\n")
        log.flush()
        process = subprocess.Popen([sys.executable, "-m", "nmt", command, *args], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while not _ended(process, WATCH_SECONDS if watch else None):
                watch()
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait()
    if process.returncode == 0:
        return
    lines = read_lines(log_path)
    last = lines[-1] if lines else ""
    if process.returncode == USER_ERROR:
        raise CellFailed(last.removeprefix(f"nmt {command}: error: "))
    raise NmtError(f"nmt {command} exited with {process.returncode}; see {log_path} ({last})")


def _ended(process, timeout):
    try:
        process.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def measure_run(run_dir):
    """What a sweep reports of a trained run: its data, segmentation, speed and best dev BLEU."""
    run_dir = Path(run_dir)
    stats = json.loads((run_dir / "stats.json").read_text(encoding="utf-8"))["train"]
    best = json.loads((run_dir / "best" / "config.json").read_text(encoding="utf-8"))["info"]
    events = [json.loads(line) for line in read_lines(run_dir / "metrics.jsonl")]
    windows = [e for e in events if e["event"] == "train"]
    seconds = sum(e["window_seconds"] for e in windows)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    ends = [e for e in events if e["event"] == "end"]
    # chrF of the chosen checkpoint's validation: it still ranks models whose BLEU is near 0
    best_valid = [e for e in events if e["event"] == "valid" and e["step"] == best["step"]]
    record = {"train_pairs": stats["pairs"], "train_words": stats["src"]["words"],
              "src_vocab": manifest["src_vocab"], "tgt_vocab": manifest["tgt_vocab"],
              "dev_bleu": best["valid_bleu"], "dev_chrf": best_valid[-1]["chrf"] if best_valid else None,
              "best_step": best["step"],
              "steps": max((e["step"] for e in events), default=0),
              # training time (validations included) until the run ended, and whether early stopping ended it
              "train_seconds": max((e["elapsed"] for e in events if "elapsed" in e), default=0.0),
              "early_stopped": bool(ends) and ends[-1]["reason"] == "early stopping",
              "compute": ends[-1].get("compute") if ends else None,  # what the minutes were spent on
              "tokens_per_s": sum(e["window_tokens"] for e in windows) / seconds if seconds else None}
    for side in ("src", "tgt"):
        record[f"{side}_subwords_per_word"] = stats[side]["subwords_per_word"]
        record[f"{side}_unknown_rate"] = stats[side]["unknown_rate"]
        record[f"{side}_tokens_mean"] = stats[side]["tokens_per_sentence"]["mean"]
        record[f"{side}_tokens_p95"] = stats[side]["tokens_per_sentence"]["p95"]
    return record


def test_files(run_dir, sweep, model="best"):
    """(source, reference, translations) of the sweep's test split for the run's model directory `model`."""
    from nmt.config import read_yaml

    data = read_yaml(run_dir / "config.yaml")["data"]
    return (sweep.data_dir / f"{sweep.test_split}.{data['src_lang']}",
            sweep.data_dir / f"{sweep.test_split}.{data['tgt_lang']}", run_dir / f"{sweep.test_split}.{model}.hyp")


def score_test_split(run_dir, sweep, log_path, model="best"):
    """Test BLEU and chrF of the run's model directory `model` (best/, or one that `nmt average` wrote)."""
    source, reference, hypotheses = test_files(run_dir, sweep, model)
    run_nmt(log_path, "translate", "--model", str(run_dir / model), "--input", str(source),
            "--output", str(hypotheses))
    scores = score_corpus(read_lines(hypotheses), read_lines(reference))
    return {"test_bleu": scores["bleu"]["score"], "test_chrf": scores["chrf"]["score"]}
