"""`nmt average`: a model directory whose weights are the mean of several kept update checkpoints.

Averaging the last few checkpoints (Vaswani et al. 2017; Junczys-Dowmunt et al. 2016) smooths the
noise of the final updates; `--best N` averages the N checkpoints with the best dev score instead (BLEU, or
chrF where the run validated on it: `train.validation.metric`).
"""
import json

from nmt.config import load_config
from nmt.errors import NmtError
from nmt.export import export_model
from nmt.models import build_model
from nmt.rundir import RunDir
from nmt.tokenize import load_tokenizers
from nmt.train.checkpoint import load_checkpoint


def average_state_dicts(states):
    """The element-wise mean of same-shaped state dicts (integer buffers are taken from the last)."""
    averaged = {}
    for name, last in states[-1].items():
        if last.is_floating_point():
            averaged[name] = sum(state[name].double() for state in states).div(len(states)).to(last.dtype)
        else:
            averaged[name] = last
    return averaged


def choose_steps(run, last=None, best=None, metric="bleu"):
    """The steps of the kept checkpoints to average: the `last` newest or the `best` by the dev `metric`."""
    kept = run.update_checkpoints()
    if not kept:
        raise NmtError(f"{run.checkpoints}: no kept update checkpoints; train with train.keep_checkpoints: N")
    if last:
        chosen = sorted(kept)[-last:]
    else:
        score = dev_scores_by_step(run, metric)
        chosen = sorted(sorted(kept, key=lambda step: score.get(step, float("-inf")))[-best:])
    wanted = last or best
    if len(chosen) < wanted:
        raise NmtError(f"{run.checkpoints}: {wanted} checkpoints asked for, {len(chosen)} kept "
                       f"(steps {', '.join(map(str, sorted(kept)))})")
    return chosen


def dev_scores_by_step(run, metric):
    events = (json.loads(line) for line in run.metrics.read_text(encoding="utf-8").splitlines() if line.strip())
    return {e["step"]: e[metric] for e in events if e.get("event") == "valid"}


def average_run(run_dir, out, last=None, best=None):
    """Write the model directory `out` from the mean of the chosen checkpoints of `run_dir`; returns their steps."""
    run = RunDir(run_dir)
    cfg = load_config(run.config)
    steps = choose_steps(run, last, best, cfg.train.validation.metric)
    tokenizers = load_tokenizers(run.tokenizer)
    model = build_model(cfg.model, tokenizers.src.vocab_size, tokenizers.tgt.vocab_size, tokenizers.joint)
    states = [load_checkpoint(run.update_checkpoint(step))["model"] for step in steps]
    try:
        model.load_state_dict(average_state_dicts(states))
    except (KeyError, RuntimeError) as e:
        raise NmtError(f"{run.checkpoints}: checkpoints do not fit the run's model ({e})") from None
    export_model(out, model.eval(), cfg.model, cfg.decode, tokenizers, {"averaged_steps": steps, "languages": [cfg.data.src_lang, cfg.data.tgt_lang]})
    return steps
