"""What happens after the dev set is scored: small observers the training loop calls in order.

Each is a function `(trainer, validation)`; the trainer gives access to the model, the run
directory, the tokenizers, the LR schedule and its whole state. The order matters: the LR decays
before the checkpoint is written, so a resumed run continues with the decayed rate.
"""
import shutil
from dataclasses import dataclass

from nmt import atomic
from nmt.evaluate import VALIDATION_METRICS
from nmt.export import export_model
from nmt.train.checkpoint import save_checkpoint
from nmt.train.reporting import say


@dataclass
class Validation:
    step: int
    bleu: float
    chrf: float
    metric: str          # the score that picks best/ (train.validation.metric): "bleu" or "chrf"
    improved: bool       # the best score so far
    best: float          # the best score so far
    hypotheses: list     # detokenised dev translations
    seconds: float       # time the validation took

    @property
    def score(self):
        return getattr(self, self.metric)


def decay_lr_on_plateau(trainer, validation):
    """The plateau schedule counts validations without a gain (a no-op for the other schedules)."""
    trainer.lr_schedule.update(validation.score)


def write_dev_translations(trainer, validation):
    text = "".join(h + "\n" for h in validation.hypotheses)
    atomic.write_text(trainer.run_dir.valid / f"step{validation.step}.txt", text)


def export_if_best(trainer, validation):
    if validation.improved:
        info = {"step": validation.step, "valid_bleu": validation.bleu, "valid_chrf": validation.chrf,
                "valid_sentences": len(validation.hypotheses),
                "languages": [trainer.cfg.data.src_lang, trainer.cfg.data.tgt_lang]}
        export_model(trainer.run_dir.best, trainer.model, trainer.cfg.model, trainer.cfg.decode,
                     trainer.tokenizers, info)


def write_checkpoint(trainer, validation):
    save_checkpoint(trainer.run_dir.checkpoint, trainer.state_dict())


def keep_update_checkpoint(trainer, validation):
    """A copy of last.pt as stepK.pt; only the newest `train.keep_checkpoints` of them stay."""
    keep = trainer.cfg.train.keep_checkpoints
    if keep:
        with atomic.atomic_path(trainer.run_dir.update_checkpoint(validation.step)) as tmp:
            shutil.copyfile(trainer.run_dir.checkpoint, tmp)
        kept = trainer.run_dir.update_checkpoints()
        for step in sorted(kept)[:-keep]:
            kept[step].unlink()


def log_validation(trainer, validation):
    v = validation
    trainer.reporter.event("valid", v.step, bleu=v.bleu, chrf=v.chrf, metric=v.metric, best=v.best,
                           seconds=v.seconds, elapsed=trainer.elapsed)
    news = "new best, exported" if v.improved else f"best {VALIDATION_METRICS[v.metric]} {v.best:.2f}"
    say(f"step {v.step:6d}  valid BLEU {v.bleu:.2f}  chrF {v.chrf:.2f}  ({news})  {v.seconds:.1f}s")


AT_VALIDATION = [decay_lr_on_plateau, write_dev_translations, export_if_best, write_checkpoint, keep_update_checkpoint,
                 log_validation]
