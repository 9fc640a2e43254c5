"""The observers called after each validation, one at a time, on a real (untrained) Trainer."""
import json

import pytest

from conftest import tiny_config
from nmt.export import load_model
from nmt.train import observers
from nmt.train.checkpoint import load_checkpoint
from nmt.train.loop import Trainer
from nmt.train.observers import Validation
from nmt.train.reporting import Reporter


@pytest.fixture
def trainer(fresh_run_dir, toy_corpus):
    return Trainer(tiny_config(toy_corpus, "train.lr_schedule.type=plateau", "train.lr_schedule.patience=1"),
                   fresh_run_dir)


def validation(step=7, bleu=12.5, improved=True, chrf=30.0, metric="bleu"):
    score = {"bleu": bleu, "chrf": chrf}[metric]
    return Validation(step=step, bleu=bleu, chrf=chrf, metric=metric, improved=improved, best=max(score, 20.0),
                      hypotheses=["a b", "", "c"], seconds=0.5)


def test_the_plateau_schedule_decays_after_its_patience(trainer):
    peak = trainer.lr_schedule.rate(10_000)
    observers.decay_lr_on_plateau(trainer, validation(bleu=10.0))
    observers.decay_lr_on_plateau(trainer, validation(bleu=9.0))  # patience 1: this one decays
    assert trainer.lr_schedule.rate(10_000) == pytest.approx(peak * 0.5)


def test_the_plateau_schedule_follows_the_validation_metric(trainer):
    peak = trainer.lr_schedule.rate(10_000)
    observers.decay_lr_on_plateau(trainer, validation(bleu=10.0, chrf=30.0, metric="chrf"))
    observers.decay_lr_on_plateau(trainer, validation(bleu=9.0, chrf=31.0, metric="chrf"))  # BLEU fell, chrF rose
    assert trainer.lr_schedule.rate(10_000) == pytest.approx(peak)
    observers.decay_lr_on_plateau(trainer, validation(bleu=11.0, chrf=30.5, metric="chrf"))  # the other way round
    assert trainer.lr_schedule.rate(10_000) == pytest.approx(peak * 0.5)


def test_dev_translations_are_kept_per_step(trainer):
    observers.write_dev_translations(trainer, validation(step=7))
    assert (trainer.run_dir.valid / "step7.txt").read_text(encoding="utf-8") == "a b\n\nc\n"


def test_best_is_exported_only_when_bleu_improved(trainer):
    observers.export_if_best(trainer, validation(improved=False))
    assert not trainer.run_dir.best.exists()
    observers.export_if_best(trainer, validation(step=9, improved=True))
    model, _, _ = load_model(trainer.run_dir.best)
    config = json.loads((trainer.run_dir.best / "config.json").read_text())
    assert config["info"] == {"step": 9, "valid_bleu": 12.5, "valid_chrf": 30.0, "valid_sentences": 3,
                              "languages": [trainer.cfg.data.src_lang, trainer.cfg.data.tgt_lang]}
    assert all(a.equal(b) for a, b in zip(model.state_dict().values(), trainer.model.state_dict().values()))


def test_the_checkpoint_holds_the_whole_training_state(trainer):
    trainer.step = 7
    observers.write_checkpoint(trainer, validation(step=7))
    state = load_checkpoint(trainer.run_dir.checkpoint)
    assert state["step"] == 7 and set(state) >= {"model", "optimizer", "sampler", "stopping", "lr_schedule", "rng"}


def test_the_log_gets_one_valid_event(trainer, capsys):
    trainer.reporter = Reporter(trainer.run_dir.metrics, trainer.run_dir.tensorboard)
    observers.log_validation(trainer, validation(step=7, improved=False))
    trainer.reporter.close()
    event = json.loads(trainer.run_dir.metrics.read_text().splitlines()[-1])
    assert (event["event"], event["step"], event["bleu"], event["metric"], event["best"]) == ("valid", 7, 12.5, "bleu",
                                                                                            20.0)
    assert "valid BLEU 12.50  chrF 30.00  (best BLEU 20.00)" in capsys.readouterr().out


def test_the_loop_calls_every_observer_in_order_at_each_validation(toy_corpus, fresh_run_dir):
    trainer = Trainer(tiny_config(toy_corpus, "train.limits.max_steps=4", "train.validation.every=2",
                                  "train.validation.size=4"), fresh_run_dir)
    calls = []
    trainer.observers = [lambda t, v: calls.append(("first", v.step)), lambda t, v: calls.append(("second", v.step))]
    trainer.run()
    assert calls == [("first", 2), ("second", 2), ("first", 4), ("second", 4)]
