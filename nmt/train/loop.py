"""`nmt train`: the training loop, validation on dev BLEU, checkpoints and the exported best model.

    for each batch (token-budget buckets, shuffled):
        lr <- schedule(step); scores <- model (teacher forcing, or scheduled sampling)
        loss <- label-smoothed CE; backward; clip; optimizer step (Adam | SGD | Adadelta)
        every valid_every steps, at the time budget and at the end:
            translate the dev set, score BLEU -> export best/ if it improved
            write checkpoints/last.pt (everything needed to continue exactly)
            decay the lr if it is on a BLEU plateau (lr_schedule: plateau)
            stop if BLEU has not improved for `patience` validations
"""
import os
import resource
import time

import torch

from nmt import atomic
from nmt.config import FORMAT, ExperimentConfig, dump_yaml, to_dict, upgrade, validate
from nmt.data import dataset
from nmt.data.batching import TokenBatchSampler, make_batch
from nmt.data.corpus import read_lines
from nmt.decode.translate import Translator
from nmt.device import pick_device
from nmt.errors import NmtError, one_line
from nmt.evaluate import score_corpus
from nmt.export import export_model
from nmt.models import build_model
from nmt.rundir import RunDir
from nmt.tokenize import load_tokenizers
from nmt.train.checkpoint import load_checkpoint, save_checkpoint
from nmt.train.losses import label_smoothed_cross_entropy
from nmt.train.reporting import Reporter, say
from nmt.train.scheduled_sampling import ScheduledSampling
from nmt.train.stopping import EarlyStopping


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def train(cfg, run_dir, resume=False):
    """Train until a limit (steps, epochs, time, patience) is reached; returns the best dev BLEU."""
    trainer = Trainer(cfg, run_dir)
    if resume:
        trainer.resume()
    return trainer.run()


class Trainer:
    def __init__(self, cfg, run_dir):
        self.started = time.monotonic()
        self.cfg, self.run_dir = cfg, RunDir(run_dir)
        torch.manual_seed(cfg.train.seed)
        torch.set_num_threads(cfg.train.compute.threads or os.cpu_count() or 1)
        self.device = pick_device(cfg.train.compute.device)
        self.manifest = dataset.verify_manifest(self.run_dir.root)
        self.tokenizers = load_tokenizers(self.run_dir.tokenizer)
        self.train_src, self.train_tgt = dataset.load_split(self.run_dir.data, "train")
        size = cfg.train.validation.size or None
        self.valid_src = read_lines(self.run_dir.valid_text("src"))[:size]
        self.valid_ref = read_lines(self.run_dir.valid_text("ref"))[:size]
        self.model = build_model(cfg.model, self.tokenizers.src.vocab_size, self.tokenizers.tgt.vocab_size,
                                 self.tokenizers.joint).to(self.device)
        t = cfg.train
        self.optimizer = t.optimizer.build(self.model.parameters())
        self.lr_schedule = t.lr_schedule.build(peak_lr=t.optimizer.lr)
        self.scheduled_sampling = (ScheduledSampling.from_config(t.scheduled_sampling, cfg.model.type)
                                   if t.scheduled_sampling.enabled else None)
        self.sampler = TokenBatchSampler(self.train_src.lengths, self.train_tgt.lengths, t.batch_tokens, t.seed)
        self.stopping = EarlyStopping(t.validation.patience)
        self.step, self.elapsed_before = 0, 0.0
        for path in (self.run_dir.checkpoint, self.run_dir.best):  # what a killed run left mid-save
            atomic.recover(path)

    @property
    def elapsed(self):
        return self.elapsed_before + time.monotonic() - self.started

    def state_dict(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "sampler": self.sampler.state(), "stopping": self.stopping.state_dict(),
                "lr_schedule": self.lr_schedule.state_dict(),
                "step": self.step, "elapsed": self.elapsed, "rng": torch.get_rng_state(),
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
        if saved.train.optimizer.type != self.cfg.train.optimizer.type:
            raise NmtError(f"{path}: trained with train.optimizer.type {saved.train.optimizer.type}, not "
                           f"{self.cfg.train.optimizer.type}; resume with the run's own config.yaml")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.sampler.load_state(state["sampler"])
            self.stopping.load_state_dict(state["stopping"])
            self.lr_schedule.load_state_dict(state.get("lr_schedule", {}))  # absent in older checkpoints
            self.step, self.elapsed_before = int(state["step"]), float(state["elapsed"])
            torch.set_rng_state(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise NmtError(f"{path}: damaged checkpoint ({type(e).__name__}: {one_line(e)})") from None
        self.started = time.monotonic()

    def limit_reached(self):
        t = self.cfg.train
        limits = self.cfg.train.limits
        return ((limits.max_steps and self.step >= limits.max_steps)
                or (limits.max_epochs and self.sampler.epoch >= limits.max_epochs)
                or (limits.max_time and self.elapsed >= limits.max_time) or self.stopping.should_stop)

    def run(self):
        t = self.cfg.train
        atomic.write_text(self.run_dir.config, dump_yaml(self.cfg))  # only now: a refused resume keeps the old one
        reporter = Reporter(self.run_dir.metrics, self.run_dir.tensorboard, t.limits.max_steps or None, self.step)
        window = {"loss": 0.0, "tokens": 0, "time": 0.0}
        validated_at = self.step if self.step else None
        try:
            batches = iter(self.sampler)
            while not self.limit_reached():  # checked before drawing, so the sampler never runs ahead
                tick = time.monotonic()
                batch = make_batch(self.train_src, self.train_tgt, next(batches)).to(self.device)
                loss = self.train_step(batch)
                window["loss"] += loss
                window["tokens"] += batch.n_tgt_tokens
                seconds = time.monotonic() - tick
                window["time"] += seconds
                reporter.step(loss=f"{loss / batch.n_tgt_tokens:.3f}", lr=f"{self.optimizer.param_groups[0]['lr']:.1e}",
                              tok_s=f"{batch.n_tgt_tokens / seconds:.0f}")
                if self.step % t.log_every == 0:
                    self.log_training(reporter, window)
                if self.step % t.validation.every == 0:
                    self.validate_and_save(reporter)
                    validated_at = self.step
            if validated_at != self.step:
                self.validate_and_save(reporter)
        finally:
            reporter.close()
        return self.stopping.best

    def train_step(self, batch):
        """One update on `batch`; returns the summed (label-smoothed) loss.

        Out of GPU memory, the update is redone with the batch split in halves (then quarters, ...),
        gradients accumulated and normalised by the whole batch's tokens: the same update, smaller peaks.
        """
        t = self.cfg.train
        self.model.train()
        self.step += 1
        lr = self.lr_schedule.rate(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        pieces = [batch]
        while True:
            self.optimizer.zero_grad(set_to_none=True)
            try:
                loss = sum(self.forward_backward(piece, batch.n_tgt_tokens) for piece in pieces)
                break
            except torch.cuda.OutOfMemoryError:
                if max(len(piece) for piece in pieces) == 1:
                    raise NmtError(f"out of GPU memory on a single sentence at step {self.step}; "
                                   "lower train.batch_tokens or the model size") from None
                pieces = [half for piece in pieces for half in piece.halves() if len(half)]
                say(f"step {self.step}: out of GPU memory, retrying the batch in {len(pieces)} parts")
                torch.cuda.empty_cache()
        if t.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.clip_norm)
        self.optimizer.step()
        return loss

    def forward_backward(self, batch, normaliser):
        """Add the gradients of `batch`'s loss / `normaliser` (the tokens of the whole update); returns its loss."""
        bf16 = self.cfg.train.compute.precision == "bf16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            if self.scheduled_sampling is None:
                logits = self.model(batch.src, batch.tgt_in)
            else:  # logits or float32 log-probabilities: the loss below is the same on either
                logits = self.scheduled_sampling.scores(self.model, batch.src, batch.tgt_in, self.step)
        loss = label_smoothed_cross_entropy(logits, batch.tgt_out, self.cfg.train.label_smoothing)
        (loss / normaliser).backward()
        return loss.item()

    def log_training(self, reporter, window):
        tokens_per_s = window["tokens"] / max(window["time"], 1e-9)
        loss = window["loss"] / max(window["tokens"], 1)
        lr = self.optimizer.param_groups[0]["lr"]
        extra = {} if self.scheduled_sampling is None else {"p_gold": self.scheduled_sampling.p_gold(self.step)}
        reporter.event("train", self.step, loss=loss, lr=lr, tokens_per_s=tokens_per_s,
                       window_tokens=window["tokens"], window_seconds=window["time"],
                       epoch=self.sampler.epoch, elapsed=self.elapsed, peak_rss_mib=peak_rss_mib(), **extra)
        say(f"step {self.step:6d}  epoch {self.sampler.epoch}  loss {loss:.3f}  lr {lr:.2e}  "
                       f"{tokens_per_s:,.0f} tok/s  {self.elapsed:,.0f}s")
        window.update(loss=0.0, tokens=0, time=0.0)

    def validate_and_save(self, reporter):
        tick = time.monotonic()
        translator = Translator.from_config(self.model, self.tokenizers, self.device, self.cfg.decode,
                                            beam=self.cfg.train.validation.beam, n_best=1)
        hypotheses = translator.translate(self.valid_src)
        scores = score_corpus(hypotheses, self.valid_ref, ("bleu", "chrf"))
        bleu = scores["bleu"]["score"]
        improved = self.stopping.update(bleu)
        self.lr_schedule.update(bleu)  # plateau decay; the next update uses the new rate
        atomic.write_text(self.run_dir.valid / f"step{self.step}.txt", "".join(h + "\n" for h in hypotheses))
        if improved:
            info = {"step": self.step, "valid_bleu": bleu, "valid_sentences": len(self.valid_src)}
            export_model(self.run_dir.best, self.model, self.cfg.model, self.cfg.decode, self.tokenizers, info)
        save_checkpoint(self.run_dir.checkpoint, self.state_dict())
        reporter.event("valid", self.step, bleu=bleu, chrf=scores["chrf"]["score"], best_bleu=self.stopping.best,
                       seconds=time.monotonic() - tick, elapsed=self.elapsed)
        say(f"step {self.step:6d}  valid BLEU {bleu:.2f}  chrF {scores['chrf']['score']:.2f}  "
                       f"({'new best, exported' if improved else f'best {self.stopping.best:.2f}'})  "
                       f"{time.monotonic() - tick:.1f}s")

