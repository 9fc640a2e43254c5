"""`nmt train`: the training loop.

    until a limit (steps, epochs, time, patience) is reached:
        draw `train.accumulate` token-budget batches; one update on them (nmt/train/update.py)
        every validation.every updates, at the time budget and at the end:
            translate the dev set, score BLEU (and chrF), then the observers in
            nmt/train/observers.py: decay the lr on a plateau, keep the dev translations,
            export best/ if BLEU improved, write checkpoints/last.pt, log
"""
import contextlib
import resource
import signal
import time

import torch

from nmt import atomic
from nmt.allocator import wants_tcmalloc
from nmt.config import FORMAT, ExperimentConfig, upgrade, validate
from nmt.data import dataset
from nmt.data.batching import TokenBatchSampler
from nmt.data.corpus import read_lines
from nmt.data.loader import admitted_batches, loader_workers
from nmt.data.resegment import training_pairs
from nmt.decode.translate import Translator
from nmt.device import keep_freed_memory, pick_device, resolve_precision, share_gpu_memory, slow_bf16
from nmt.errors import NmtError, one_line
from nmt.evaluate import score_corpus
from nmt.kernels import ops
from nmt.models import build_model
from nmt.plot import plot_runs
from nmt.rundir import RunDir
from nmt.schema import dump_yaml, to_dict
from nmt.tokenize import load_tokenizers
from nmt.train.checkpoint import load_checkpoint, save_checkpoint
from nmt.train.curriculum import require_budget
from nmt.train.distributed import Ranks
from nmt.train.observers import AT_VALIDATION, Validation, decay_lr_on_plateau
from nmt.train.reporting import QuietReporter, Reporter, say
from nmt.train.scheduled_sampling import ScheduledSampling
from nmt.train.stopping import EarlyStopping, StopSignals
from nmt.train.update import Update, loss_scaler


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def train(cfg, run_dir, resume=False):
    """Train until a limit (steps, epochs, time, patience) is reached, then draw RUN/training.png;
    returns the best dev score (train.validation.metric)."""
    ranks = Ranks.from_environment(cfg.train.compute.device)
    try:
        trainer = Trainer(cfg, run_dir, ranks)
        if resume:
            trainer.resume()
        best = trainer.run()
        if ranks.is_main:
            plot_runs([run_dir], trainer.run_dir.plot)
        return best
    finally:
        ranks.close()


class Trainer:
    def __init__(self, cfg, run_dir, ranks=Ranks()):
        self.started = time.monotonic()
        self.cfg, self.run_dir, self.ranks = cfg, RunDir(run_dir), ranks
        require_budget(cfg.train.curriculum, cfg.train.limits)
        torch.manual_seed(cfg.train.seed)  # the same initial weights on every rank
        torch.set_num_threads(ranks.threads(cfg.train.compute.threads))
        self.device = pick_device(ranks.device_name(cfg.train.compute.device))
        share_gpu_memory(self.device, cfg.train.compute.gpu_memory_share)
        if self.device.type == "cpu":
            keep_freed_memory()
            if wants_tcmalloc() and ranks.is_main:  # on glibc's malloc, and not by the user's choice
                say("note: training with the C library's malloc; with tcmalloc installed (libtcmalloc-minimal4), "
                    "`nmt train` uses it: about a third less memory (nmt/allocator.py)")
        self.precision = resolve_precision(cfg.train.compute.precision, self.device)
        ops.use(cfg.train.compute.kernels)
        if ranks.is_main and cfg.train.compute.precision == "auto":
            say(f"precision: {self.precision} on this {self.device.type.upper()} (train.compute.precision auto)")
        if self.precision == "bf16" and slow_bf16(self.device) and ranks.is_main:
            say("warning: this CPU has no bf16 instructions, so bf16 autocast is slower than fp32 here; "
                "consider --set train.compute.precision=auto")
        self.manifest = dataset.verify_manifest(self.run_dir.root)
        self.tokenizers = load_tokenizers(self.run_dir.tokenizer)
        self.pairs = training_pairs(self.run_dir, self.tokenizers, cfg.tokenizer.sampling, cfg.train.seed)
        size = cfg.train.validation.size or None
        self.valid_src = read_lines(self.run_dir.valid_text("src"))[:size]
        self.valid_ref = read_lines(self.run_dir.valid_text("ref"))[:size]
        self.model = build_model(cfg.model, self.tokenizers.src.vocab_size, self.tokenizers.tgt.vocab_size,
                                 self.tokenizers.joint).to(self.device)
        t = cfg.train
        self.optimizer = t.optimizer.build(self.model)
        self.lr_schedule = t.lr_schedule.build(peak_lr=t.optimizer.lr, max_steps=t.limits.max_steps)
        self.scheduled_sampling = (ScheduledSampling.from_config(t.scheduled_sampling, self.model)
                                   if t.scheduled_sampling.enabled else None)
        self.loss_scaler = loss_scaler(self.model, self.precision)
        self.update = Update(self.model, self.optimizer, self.lr_schedule, t.label_smoothing, t.clip_norm,
                             precision=self.precision, scheduled_sampling=self.scheduled_sampling,
                             ranks=ranks, pass_tokens=t.compute.pass_tokens, scaler=self.loss_scaler)
        self.observers = list(AT_VALIDATION) if ranks.is_main else [decay_lr_on_plateau]  # rank 0 writes
        self.reporter = QuietReporter()
        self.sampler = TokenBatchSampler(self.pairs, t.batch_tokens, t.seed)
        self.stopping = EarlyStopping(t.validation.patience, t.validation.min_delta)
        self.step, self.elapsed_before = 0, 0.0
        self.nonfinite_in_a_row = self.nonfinite_skipped = 0

    def seed_this_rank(self):
        """In a run of several ranks, the draws of an update (dropout, sampling) come from a generator seeded
        by the seed, the rank and the step: ranks do not drop the same units, and a resumed run draws what
        the uninterrupted one drew. One process keeps the seeded stream, and the checkpoint keeps its state."""
        if self.ranks.world > 1:
            torch.manual_seed((self.cfg.train.seed * 1_000_003 + self.ranks.rank) * 1_000_003 + self.step)

    @property
    def elapsed(self):
        return self.elapsed_before + time.monotonic() - self.started

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "sampler": self.sampler.state(), "stopping": self.stopping.state_dict(),
                "lr_schedule": self.lr_schedule.state_dict(), "loss_scale": self.loss_scaler.state_dict(),
                "step": self.step, "elapsed": self.elapsed, "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "config": to_dict(self.cfg), "config_format": FORMAT,
                "vocab": [self.tokenizers.src.vocab_size, self.tokenizers.tgt.vocab_size]}

    def resume(self):
        path = self.run_dir.checkpoint
        state = load_checkpoint(path)
        try:
            saved_vocab, saved = list(state["vocab"]), state["config"]
            saved = validate(saved if state.get("config_format") == FORMAT else upgrade(saved), ExperimentConfig)
        except KeyError as e:
            raise NmtError(f"{path}: not a checkpoint written by `nmt train` (no {e} entry)") from None
        except (TypeError, ValueError, AttributeError, NmtError) as e:
            raise NmtError(f"{path}: not a checkpoint written by `nmt train` ({e})") from None
        vocab = [self.tokenizers.src.vocab_size, self.tokenizers.tgt.vocab_size]
        if saved_vocab != vocab:
            raise NmtError(f"{path}: trained with vocabulary sizes {saved_vocab}, "
                           f"but the run's tokenizer has {vocab}")
        if saved.model != self.cfg.model:
            raise NmtError(f"{path}: the model section of the config differs from the "
                           "checkpoint's; resume with the run's own config.yaml")
        if saved.train.validation.metric != self.cfg.train.validation.metric:  # scores kept in its units
            raise NmtError(f"{path}: validated on {saved.train.validation.metric}, not "
                           f"{self.cfg.train.validation.metric}; resume with the run's own config.yaml")
        if saved.train.optimizer.type != self.cfg.train.optimizer.type:
            raise NmtError(f"{path}: trained with train.optimizer.type {saved.train.optimizer.type}, not "
                           f"{self.cfg.train.optimizer.type}; resume with the run's own config.yaml")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.sampler.load_state(state["sampler"])
            self.stopping.load_state_dict(state["stopping"])
            self.lr_schedule.load_state_dict(state.get("lr_schedule", {}))  # absent in older checkpoints
            if state.get("loss_scale") and self.loss_scaler.is_enabled():  # fp16 then and now
                self.loss_scaler.load_state_dict(state["loss_scale"])
            self.step, self.elapsed_before = int(state["step"]), float(state["elapsed"])
            torch.set_rng_state(state["rng"])
            if state.get("cuda_rng") and torch.cuda.is_available():  # exact on the same number of GPUs
                torch.cuda.set_rng_state_all(state["cuda_rng"][:torch.cuda.device_count()])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise NmtError(f"{path}: damaged checkpoint ({type(e).__name__}: {one_line(e)})") from None
        self.started = time.monotonic()

    def stop_reason(self):
        """The limit that ends the run now ("" while none does), as metrics.jsonl's `end` record names it."""
        limits = self.cfg.train.limits
        if self.stopping.should_stop:
            return "early stopping"
        if limits.max_steps and self.step >= limits.max_steps:
            return "max_steps"
        if limits.max_epochs and self.sampler.epoch >= limits.max_epochs:
            return "max_epochs"
        return "max_time" if limits.max_time and self.elapsed >= limits.max_time else ""

    def run(self):
        """Train until a limit is reached; returns the best dev score. The run directory is locked meanwhile;
        SIGTERM or SIGINT end the run after the current update, with checkpoints/last.pt written."""
        with (self.run_dir.lock() if self.ranks.is_main else contextlib.nullcontext()), StopSignals() as stop:
            if self.ranks.is_main:
                for path in (self.run_dir.checkpoint, self.run_dir.best):  # what a killed run left mid-save
                    atomic.recover(path)
                atomic.write_text(self.run_dir.config, dump_yaml(self.cfg))  # a refused resume keeps the old one
                limits = self.cfg.train.limits
                budgeted = bool(limits.max_steps or limits.max_time or limits.max_epochs)
                self.reporter = Reporter(self.run_dir.metrics, self.run_dir.tensorboard, budgeted, self.progress)
            try:
                self.loop(stop)
            finally:
                self.reporter.close()
                self.pairs.close()
        return self.stopping.best

    def loop(self, stop):
        t = self.cfg.train
        window = {"loss": 0.0, "tokens": 0, "time": 0.0}
        validated_at = self.step if self.step else None
        batches = self.batches()
        while not self.ranks.any(reason := self.stop_reason()):  # before drawing: the cursor stays put
            tick = time.monotonic()
            update = self.draw_update(batches)
            self.step += 1
            self.seed_this_rank()
            loss = self.update(update, self.step)
            if loss is None:
                self.skip_nonfinite()
            else:
                self.nonfinite_in_a_row = 0
                self.record(window, loss, update, time.monotonic() - tick)
            if self.step % t.log_every == 0 and self.ranks.is_main:
                self.log_training(window)
            if self.step % t.validation.every == 0:
                self.validate()
                validated_at = self.step
            if self.ranks.any(stop.signal):
                self.save_and_stop(stop.signal)
        if validated_at != self.step:
            self.validate()
        self.reporter.event("end", self.step, reason=reason or "another rank's limit", elapsed=self.elapsed,
                            compute=self.compute())

    def compute(self):
        """What trained the run, as the end record says it: 'cpu fp32, 1 thread', 'cuda bf16, 4 threads,
        2 ranks'. The precision is part of it: the same recipe's minutes differ 2-3x between fp32 and bf16."""
        threads = torch.get_num_threads()
        ranks = f", {self.ranks.world} ranks" if self.ranks.world > 1 else ""
        return f"{self.device.type} {self.precision}, {threads} thread{'s' * (threads > 1)}{ranks}"

    def record(self, window, loss, update, seconds):
        tokens = self.ranks.sum(sum(batch.n_tgt_tokens for batch in update))
        window.update(loss=window["loss"] + loss, tokens=window["tokens"] + tokens, time=window["time"] + seconds)
        self.reporter.step(self.progress, loss=f"{loss / tokens:.3f}", lr=f"{self.optimizer.param_groups[0]['lr']:.1e}",
                           tok_s=f"{tokens / seconds:.0f}")

    def save_and_stop(self, signum):
        """After SIGTERM or SIGINT (a cluster preempting the job, Ctrl-C): the update is done; keep it."""
        if self.ranks.is_main:
            save_checkpoint(self.run_dir.checkpoint, self.state_dict())
        raise NmtError(f"stopped by {signal.Signals(signum).name} after step {self.step}, saved in "
                       f"{self.run_dir.checkpoint}; continue with: nmt train --run-dir {self.run_dir.root} --resume")

    @property
    def progress(self):
        """The share of the budget spent: of train.limits.max_steps, max_time or max_epochs, whichever
        is furthest along (that limit ends the run)."""
        limits = self.cfg.train.limits
        return max(self.step / limits.max_steps if limits.max_steps else 0.0,
                   self.elapsed / limits.max_time if limits.max_time else 0.0,
                   self.sampler.epochs_done() / limits.max_epochs if limits.max_epochs else 0.0)

    def skip_nonfinite(self):
        """Count an update skipped for a non-finite loss or gradient; too many in a row stop the run,
        whose checkpoint is still the last good one (nothing is written after a skip). In fp16 such an
        update is first of all a loss scale too high for fp16's range, which GradScaler has just halved;
        those skips count only once the scale is below 1 (a diverged model overflows at any scale)."""
        scaler = self.loss_scaler
        if scaler.is_enabled() and scaler.get_scale() >= 1:
            self.reporter.event("overflow", self.step, loss_scale=scaler.get_scale())
            if self.ranks.is_main:
                say(f"step {self.step:6d}  fp16 gradient overflow: update skipped, loss scale now {scaler.get_scale():g}")
            return
        self.nonfinite_in_a_row += 1
        self.nonfinite_skipped += 1
        self.reporter.event("nonfinite", self.step, in_a_row=self.nonfinite_in_a_row, total=self.nonfinite_skipped)
        if self.ranks.is_main:
            say(f"step {self.step:6d}  non-finite loss or gradient: update skipped "
                f"({self.nonfinite_in_a_row} in a row, {self.nonfinite_skipped} in all)")
        limit = self.cfg.train.max_nonfinite
        if self.nonfinite_in_a_row >= limit:
            raise NmtError(f"step {self.step}: {limit} updates in a row had a non-finite loss or gradient "
                           f"(train.max_nonfinite); {self.run_dir.checkpoint} holds the last validated state. "
                           "Lower train.optimizer.lr or use train.compute.precision fp32")

    def batches(self):
        """The batches the sampler admits from its cursor on, made by the loader (nmt/data/loader.py)."""
        workers = loader_workers(self.cfg.train.compute.loader_workers, self.device, self.pairs)
        return admitted_batches(self.sampler, self.pairs, workers, pin_memory=self.device.type == "cuda")

    def draw_update(self, batches):
        """This rank's batches of one update, on the device: of `train.accumulate` per rank, fewer if the
        last epoch that `train.limits.max_epochs` allows ends first; the curriculum sets which pairs come."""
        self.sampler.length_limit = self.cfg.train.curriculum.length_limit(self.step + 1, self.progress,
                                                                          self.sampler.sorted_lengths())
        drawn, max_epochs = [], self.cfg.train.limits.max_epochs
        for _ in range(self.cfg.train.accumulate * self.ranks.world):
            if drawn and max_epochs and self.sampler.epoch >= max_epochs:
                break
            drawn.append(next(batches))
        return [batch.to(self.device, non_blocking=True) for batch in self.ranks.mine(drawn)]

    def log_training(self, window):
        tokens_per_s = window["tokens"] / max(window["time"], 1e-9)
        loss = window["loss"] / max(window["tokens"], 1)
        lr = self.optimizer.param_groups[0]["lr"]
        extra = {} if self.scheduled_sampling is None else {"p_gold": self.scheduled_sampling.p_gold(self.step)}
        if self.sampler.length_limit is not None:
            extra["length_limit"] = int(self.sampler.length_limit)
        if self.device.type == "cuda":  # what the tensors took at most; the caching allocator holds more
            extra["peak_gpu_mib"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        self.reporter.event("train", self.step, loss=loss, lr=lr, tokens_per_s=tokens_per_s,
                            window_tokens=window["tokens"], window_seconds=window["time"],
                            epoch=self.sampler.epoch, elapsed=self.elapsed, peak_rss_mib=peak_rss_mib(), **extra)
        say(f"step {self.step:6d}  epoch {self.sampler.epoch}  loss {loss:.3f}  lr {lr:.2e}  "
            f"{tokens_per_s:,.0f} tok/s  {self.elapsed:,.0f}s")
        window.update(loss=0.0, tokens=0, time=0.0)

    def validate(self):
        """Score the dev set, then call every observer (export, checkpoint, decay, log) in order."""
        tick = time.monotonic()
        hypotheses, bleu, chrf = [], 0.0, 0.0
        if self.ranks.is_main:
            translator = Translator(self.model, self.tokenizers, self.device, self.cfg.decode,
                                    beam=self.cfg.train.validation.beam, n_best=1, sample=False)
            hypotheses = translator.translate(self.valid_src)
            scores = score_corpus(hypotheses, self.valid_ref, ("bleu", "chrf"))
            bleu, chrf = scores["bleu"]["score"], scores["chrf"]["score"]
        bleu, chrf = self.ranks.share((bleu, chrf))
        metric = self.cfg.train.validation.metric
        improved = self.stopping.update({"bleu": bleu, "chrf": chrf}[metric])  # every rank: all of them stop together
        validation = Validation(self.step, bleu, chrf, metric, improved, self.stopping.best, hypotheses,
                                time.monotonic() - tick)
        for observer in self.observers:
            observer(self, validation)
