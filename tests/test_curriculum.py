"""The length curriculum: phases and competence against their definitions, the sampler, the trainer."""
import math
import re

import numpy as np
import pytest

from conftest import assert_same_parameters, pairs_of_lengths, tiny_config, train_straight_and_resumed
from nmt.config import load_config
from nmt.data.batching import TokenBatchSampler
from nmt.errors import NmtError
from nmt.train.loop import Trainer

PHASES = "train.curriculum.phases=[{max_tokens: 8, until_step: 5}, {max_tokens: 12, until_fraction: 0.5}, {}]"


def curriculum(*settings):
    return load_config(None, ["train.limits.max_steps=100", *settings]).train.curriculum


def test_phases_end_at_their_step_or_fraction_of_the_budget():
    phases = curriculum("train.curriculum.type=phases", PHASES)
    lengths = np.arange(1, 30)
    assert [phases.length_limit(step, step / 100, lengths) for step in (1, 5, 6, 49, 50, 51, 100)] == \
        [8, 8, 12, 12, None, None, None]


def test_default_phases_are_short_for_nine_tenths_of_the_budget():
    phases = curriculum("train.curriculum.type=phases")
    assert phases.length_limit(1, 0.89, []) == 64 and phases.length_limit(1, 0.9, []) is None


@pytest.mark.parametrize("settings, key", [
    (["train.curriculum.type=phases", "train.curriculum.phases=[{max_tokens: 8}, {}]"], "phases[0]"),
    (["train.curriculum.type=phases", "train.curriculum.phases=[{max_tokens: 8, until_step: 3}]"], "last phase"),
    (["train.curriculum.type=competence"], "duration_steps or duration_fraction"),
])
def test_a_phase_or_competence_without_a_clear_end_is_refused(settings, key):
    with pytest.raises(NmtError, match=re.escape(key)):
        curriculum(*settings)


def test_a_fraction_of_the_budget_needs_a_budget_when_training_starts(fresh_run_dir, toy_corpus):
    cfg = tiny_config(toy_corpus, "train.curriculum.type=phases")  # preprocess reads it without --max-time
    with pytest.raises(NmtError, match="needs train.limits.max_steps or max_time"):
        Trainer(cfg, fresh_run_dir)


def test_competence_is_the_square_root_schedule_of_platanios_et_al():
    c = curriculum("train.curriculum.type=competence", "train.curriculum.duration_steps=1000",
                   "train.curriculum.initial=0.1")
    for t in (0, 1, 250, 999, 1000, 5000):
        assert c.competence(t, 0.0) == pytest.approx(min(1.0, math.sqrt(t * (1 - 0.01) / 1000 + 0.01)))
    lengths = np.arange(1, 101)  # 100 pairs of lengths 1..100: the admitted share c is lengths <= 100 c
    assert c.length_limit(0, 0.0, lengths) == 10
    assert c.length_limit(250, 0.0, lengths) == math.ceil(100 * math.sqrt(0.25 * 0.99 + 0.01))
    assert c.length_limit(1000, 0.0, lengths) is None


def test_the_sampler_passes_over_batches_with_longer_pairs():
    lengths = np.array([3, 9, 4, 12, 5, 30, 6, 7] * 5)
    sampler = TokenBatchSampler(pairs_of_lengths(lengths, lengths), batch_tokens=40, seed=1)
    sampler.length_limit = 8  # a pair's length counts BOS/EOS: lengths + 1
    batches = iter(sampler)
    drawn = [next(batches) for _ in range(10)]
    assert all(sampler.lengths(epoch)[b].max() <= 8 for epoch, b in drawn)
    sampler.length_limit = None
    assert any(sampler.lengths(epoch)[b].max() > 8 for epoch, b in (next(batches) for _ in range(20)))
    sampler.length_limit = 2
    with pytest.raises(NmtError, match="no training pair is within 2 tokens"):
        next(batches)


def _longest_pair_per_update(trainer):
    longest, update = [], trainer.update

    def recording(batches, step):
        # a pair's length is its longer side + 1, as src (+ EOS) and tgt_out (+ EOS) count it
        longest.append(max(int(side.ne(0).sum(1).max()) for b in batches for side in (b.src, b.tgt_out)))
        return update(batches, step)

    trainer.update = recording
    return longest


def test_the_first_phase_admits_only_short_pairs_and_all_come_after_it(fresh_run_dir, toy_corpus):
    trainer = Trainer(tiny_config(toy_corpus, "train.curriculum.type=phases", "train.limits.max_steps=12",
                                  "train.curriculum.phases=[{max_tokens: 30, until_step: 6}, {}]"), fresh_run_dir)
    longest = _longest_pair_per_update(trainer)  # toy pairs have 19 to 60 tokens, a quarter at most 30
    trainer.run()
    assert max(longest[:6]) <= 30
    assert max(longest[6:]) > 30


def test_resume_is_exact_with_competence_curriculum_and_accumulation(toy_corpus, run_dir, tmp_path):
    settings = ["train.curriculum.type=competence", "train.curriculum.duration_steps=6",
                "train.curriculum.initial=0.2", "train.accumulate=2", "train.validation.every=3",
                "train.validation.size=4"]
    straight, second = train_straight_and_resumed(toy_corpus, run_dir, tmp_path, settings, steps=6)
    assert straight.sampler.state() == second.sampler.state()
    assert_same_parameters(straight.model, second.model)
