"""`nmt sweep`: random search over config keys (Bergstra & Bengio 2012), scored on dev BLEU.

The study lives in optuna's storage: a SQLite file in OUT by default, or a database URL that workers on
several machines share (optuna hands each worker its own trials). Each trial is a cell of the sweeps'
grid runner (its own `nmt preprocess` and `nmt train` processes, run directory OUT/runs/trialN); its
dev BLEU at each validation goes to optuna's median pruner, which stops a trial that trails the median
of earlier trials at the same update. A killed sweep started again finishes the trials still missing:
optuna's heartbeat marks a trial whose worker died as failed, and it is tried again with the same
parameters. At the end OUT/sweep.md and sweep.csv list the trials, OUT/importance.png shows which keys
mattered.

The space is a YAML mapping of config keys to distributions:

    train.optimizer.lr: {log_uniform: [1.0e-4, 3.0e-3]}
    model.dropout: {uniform: [0.1, 0.4]}
    tokenizer.vocab_size: {int: [1000, 16000], log: true}
    train.curriculum.type: {choice: [none, phases]}
"""
import json
import multiprocessing
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nmt import atomic
from nmt.config import load_config, read_yaml
from nmt.data.corpus import read_lines
from nmt.errors import NmtError
from nmt.sweep.grid import Cell, run_cell, side_by_side
from nmt.sweep.report import Column, write_tables

DISTRIBUTIONS = ("uniform", "log_uniform", "int", "choice")
HEARTBEAT_SECONDS = 60  # a trial whose worker sent none for twice this long is failed and tried again
STUDY_NAME = "nmt-sweep"
IMPORTANCE_QUANTILE = 0.5  # importance for reaching the better half: with a dozen trials, the top 10 % is one


@dataclass(frozen=True)
class Dimension:
    """One config key of the space and how it is drawn."""
    key: str
    kind: str                # one of DISTRIBUTIONS
    values: tuple            # (low, high), or the choices
    log: bool = False        # int: drawn on a log scale

    def suggest(self, trial):
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(self.key, *self.values, log=self.log)
        return trial.suggest_float(self.key, *self.values, log=self.kind == "log_uniform")


def read_space(path, config, overrides):
    """The Dimensions of a space file, each checked against the config before any trial runs: a key it
    has, bounds (or choices) it accepts. Errors are one line naming the file and the key."""
    raw = read_yaml(Path(path))
    if not raw:
        raise NmtError(f"{path}: the space names no config key")
    dimensions = [_dimension(path, key, spec) for key, spec in raw.items()]
    for dimension in dimensions:
        for value in dimension.values:  # the bounds, or every choice
            try:
                load_config(config, [*overrides, f"{dimension.key}={json.dumps(value)}"])
            except NmtError as e:
                raise NmtError(f"{path}: {dimension.key} = {value!r}: {e}") from None
    return dimensions


def _dimension(path, key, spec):
    where = f"{path}: {key}"
    if not isinstance(spec, dict) or len(spec) - ("log" in spec) != 1 or not set(spec) - {"log"} <= set(
            DISTRIBUTIONS):
        raise NmtError(f"{where}: expected one of {{{': ..., '.join(DISTRIBUTIONS)}: ...}}, got {spec!r}")
    (kind,) = set(spec) - {"log"}
    values = spec[kind]
    if not isinstance(values, list) or not values:
        raise NmtError(f"{where}: {kind} takes a list, got {values!r}")
    if "log" in spec and kind != "int":
        raise NmtError(f"{where}: log applies to int (use log_uniform for a real number)")
    if kind == "choice":
        return Dimension(key, kind, tuple(values))
    numbers = (int,) if kind == "int" else (int, float)
    if len(values) != 2 or not all(isinstance(v, numbers) and not isinstance(v, bool) for v in values) \
            or not values[0] < values[1]:
        raise NmtError(f"{where}: {kind} takes [low, high] with low < high, got {values!r}")
    if kind == "log_uniform" and values[0] <= 0:
        raise NmtError(f"{where}: log_uniform needs a positive low bound, got {values[0]!r}")
    return Dimension(key, kind, tuple(values), log=bool(spec.get("log", False)))


def open_study(url, settings):
    """The sweep's optuna study in the storage at `url`, created on first use (random sampling, median
    pruning on dev BLEU); a study that exists must have been started with the same `settings`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # SQLite: workers wait up to a minute for another's write rather than fail on a locked file
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    storage = _storage(url, engine)
    study = optuna.create_study(
        storage=storage, study_name=STUDY_NAME, direction="maximize", load_if_exists=True,
        # unseeded: workers sharing the study must not draw the same parameters (the study records them)
        sampler=optuna.samplers.RandomSampler(),
        # no pruning before 3 trials have finished, nor at a trial's first validation (number 0)
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    saved = study.user_attrs.get("settings")
    if saved is None:
        study.set_user_attr("settings", settings)
    elif saved != settings:
        changed = ", ".join(sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k)))
        raise NmtError(f"{url}: holds a sweep with other settings ({changed} differ); use another --out or "
                       "--storage")
    return study


def _storage(url, engine, attempts=3):
    """optuna's RDB storage at `url`; workers that start together on a new database race to create its
    tables, and the loser finds them made when it tries again."""
    import optuna
    from sqlalchemy.exc import DBAPIError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in optuna since 2.8
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2))
        except DBAPIError:  # the tables half made by another worker: a lock, a duplicate row
            if attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)


def run_trials(study, dimensions, trials, config, sweep, share=(), log=print):
    """Run trials until the study has `trials` finished ones (completed or pruned, by any worker); `share`:
    the --set that gives each trial this worker's share of the machine (grid.side_by_side)."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    def objective(trial):
        params = {d.key: d.suggest(trial) for d in dimensions}
        overrides = [f"{key}={json.dumps(value)}" for key, value in params.items()]
        cell = Cell(f"trial{trial.number}", params, config, (*overrides, *share))
        log(f"trial {trial.number}: " + ", ".join(f"{k}={v}" for k, v in params.items()))
        record = run_cell(cell, sweep, watch_training=PruningWatch(trial))
        if "failed" in record:
            trial.set_user_attr("failed", record["failed"])
            raise optuna.TrialPruned()  # the config cannot run here: nothing to score, and no reason to stop
        trial.set_user_attr("record", record)
        return record["dev_bleu"]

    def stored(study, trial):
        """Said once the study holds the trial's outcome: a worker killed after this never redoes it."""
        if "failed" in trial.user_attrs:
            log(f"    trial {trial.number} failed: {trial.user_attrs['failed']}")
        elif trial.state == TrialState.PRUNED:
            log(f"    trial {trial.number}: pruned at update {trial.user_attrs.get('pruned_at')}")
        elif trial.state == TrialState.COMPLETE:
            log(f"    trial {trial.number}: dev BLEU {trial.value:.2f}")

    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    if len(study.get_trials(deepcopy=False, states=finished)) < trials:
        study.optimize(objective, callbacks=[stored, MaxTrialsCallback(trials, states=finished)])


class PruningWatch:
    """Called by the grid runner while a trial trains: hands optuna the dev BLEU of each validation the
    run has logged since, and stops a trial the pruner gives up on. Validations are numbered 0, 1, ...:
    every trial validates every train.validation.every updates, so trials are compared at equal updates."""

    def __init__(self, trial):
        self.trial, self.reported = trial, 0

    def __call__(self, run_dir):
        import optuna

        metrics = Path(run_dir) / "metrics.jsonl"
        if not metrics.is_file():
            return
        # a line still being written ends later
        events = [json.loads(line) for line in read_lines(metrics) if line.endswith("}")]
        validations = [e for e in events if e.get("event") == "valid"]
        for number, validation in enumerate(validations[self.reported:], self.reported):
            self.reported += 1
            self.trial.report(validation["bleu"], number)
            if self.trial.should_prune():
                self.trial.set_user_attr("pruned_at", validation["step"])
                raise optuna.TrialPruned()


def run_side_by_side(jobs, storage, settings, dimensions, trials, config, sweep, log=print):
    """`jobs` workers on this machine, each a process with its share of the cores (and GPU), sharing the study."""
    share = side_by_side(jobs)
    log(f"{jobs} workers side by side, each with {', '.join(share)}")
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        workers = [pool.submit(_worker, storage, settings, dimensions, trials, config, sweep, share, number)
                   for number in range(jobs)]
        for worker in workers:
            worker.result()


def _worker(storage, settings, dimensions, trials, config, sweep, share, number):
    study = open_study(storage, settings)
    run_trials(study, dimensions, trials, config, sweep, share,
               log=lambda message: print(f"[worker {number}] {message}", file=sys.stderr, flush=True))


def write_report(study, dimensions, out):
    """OUT/sweep.md and sweep.csv (a row per trial, best first) and OUT/importance.png; returns the rows."""
    from optuna.trial import TrialState

    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        row = {"trial": trial.number, **trial.params, "state": trial.state.name.lower()}
        row.update(trial.user_attrs.get("record", {}))
        if "failed" in trial.user_attrs:
            row["state"], row["failed"] = "failed", trial.user_attrs["failed"]
        elif trial.state == TrialState.PRUNED:
            row["state"] = f"pruned at update {trial.user_attrs.get('pruned_at', '?')}"
            row["dev_bleu"] = max(trial.intermediate_values.values(), default=None)
        rows.append(row)
    rows.sort(key=lambda r: -1 if r.get("dev_bleu") is None else r["dev_bleu"], reverse=True)
    columns = [Column("trial", "trial"), *[Column(d.key, d.key, "{:.4g}" if d.kind != "choice" else "{}")
                                           for d in dimensions],
               Column("dev BLEU", "dev_bleu", "{:.2f}"), Column("state", "state"), Column("updates", "steps"),
               Column("tokens/s", "tokens_per_s", "{:,.0f}")]
    write_tables(out / "sweep", columns, rows)
    plot_importance(study, out / "importance.png")
    return rows


def plot_importance(study, path):
    """PED-ANOVA importance of each key (Watanabe et al. 2023): how much reaching the better trials' dev BLEU
    depends on it. fANOVA, optuna's default, needs scikit-learn and gives no more on a dozen trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return
    importances = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(target_quantile=IMPORTANCE_QUANTILE))
    figure, axes = plt.subplots(figsize=(6.4, 0.5 + 0.45 * len(importances)))
    names = list(importances)[::-1]
    axes.barh(names, [importances[n] for n in names])
    axes.set(xlabel=f"importance for a dev BLEU in the top {IMPORTANCE_QUANTILE:.0%} (PED-ANOVA, sums to 1)",
             title=f"{len(study.trials)} trials")
    figure.tight_layout()
    with atomic.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)


def default_storage(out):
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


def study_settings(dimensions, config, overrides, max_time):
    """What every worker of a study must share: the resolved base config, the space and the budget (not
    file paths, which differ between machines)."""
    from nmt.schema import to_dict

    space = {d.key: {d.kind: list(d.values), "log": d.log} for d in dimensions}
    return json.loads(json.dumps({"config": to_dict(load_config(config, overrides)), "space": space,
                                  "max_time": max_time}))
