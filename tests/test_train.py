"""Loss, schedules, optimizers, early stopping, token batching, exact resume, the exported model and the
C allocator's settings for training on a CPU."""
import json
import resource

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import assert_same_parameters, pairs_of_lengths, tiny_config, train_straight_and_resumed
from nmt.config import load_config
from nmt.device import keep_freed_memory
from nmt.data.batching import TokenBatchSampler, make_batch
from nmt.data.dataset import EncodedSplit
from nmt.data.loader import admitted_batches
from nmt.data.resegment import StoredPairs
from nmt.decode.translate import Translator
from nmt.errors import NmtError
from nmt.export import load_model, model_languages
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID
from nmt.train.loop import Trainer
from nmt.train.losses import chunked_cross_entropy, label_smoothed_cross_entropy
from nmt.train.schedules import InverseSqrt, PlateauDecay, inverse_sqrt
from nmt.train.stopping import EarlyStopping

# --- loss ----------------------------------------------------------------------------------------


def _logits_and_target(seed=0, batch=3, length=5, vocab=11):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, length, vocab, generator=g) * 3
    target = torch.randint(4, vocab, (batch, length), generator=g)
    target[0, 3:] = PAD_ID
    target[2, 1:] = PAD_ID
    return logits, target


def test_label_smoothing_zero_is_summed_nll_over_non_pad_targets():
    logits, target = _logits_and_target()
    log_probs = torch.log_softmax(logits, dim=-1)
    expected = 0.0
    for b in range(target.size(0)):
        for t in range(target.size(1)):
            if target[b, t] != PAD_ID:
                expected -= float(log_probs[b, t, target[b, t]])
    loss = label_smoothed_cross_entropy(logits, target, 0.0)
    assert loss.dim() == 0
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_label_smoothing_spreads_epsilon_uniformly_and_ignores_padding():
    logits, target = _logits_and_target(seed=1)
    eps, vocab = 0.2, logits.size(-1)
    log_probs = torch.log_softmax(logits, dim=-1)
    real = target != PAD_ID
    nll = -log_probs.gather(-1, target[..., None]).squeeze(-1)
    uniform = -log_probs.mean(-1)
    expected = ((1 - eps) * nll + eps * uniform)[real].sum()
    assert float(label_smoothed_cross_entropy(logits, target, eps)) == pytest.approx(float(expected), rel=1e-5)
    # whatever the logits at padded positions, the loss is the same
    changed = logits.clone()
    changed[~real] = torch.randn(int((~real).sum()), vocab) * 10
    assert float(label_smoothed_cross_entropy(changed, target, eps)) == pytest.approx(float(expected), rel=1e-5)
    assert vocab > 4


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_loss_in_chunks_equals_the_loss_of_the_whole_batch(family):
    """Training projects a few target tokens at a time (nmt/train/losses.py): same loss, same gradients."""
    from conftest import example_batch, make_transformer
    from test_rnn import make_rnn

    model = make_transformer(seed=3) if family == "transformer" else make_rnn(seed=3)
    src, tgt_in = example_batch(src_lengths=(5, 2, 7), tgt_len=6)
    target = torch.cat([tgt_in[:, 1:], torch.full((3, 1), EOS_ID)], dim=1)
    target[1, 3:] = PAD_ID  # a shorter sentence: its padding must count for nothing
    model.train()  # dropout is 0 in both test models
    whole = label_smoothed_cross_entropy(model(src, tgt_in), target, 0.1)
    (whole / 7).backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    chunked = chunked_cross_entropy(model.decoder_states(src, tgt_in), target, model.project, model.parameters(),
                                    0.1, 1 / 7, chunk_tokens=4)
    assert all(p.grad is None for p in model.parameters())  # the gradients come with one backward pass
    chunked.backward()
    assert chunked.item() == pytest.approx(whole.item(), rel=1e-5)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_memory_freed_by_an_update_serves_the_next_without_page_faults():
    """keep_freed_memory: activations of changing sizes, freed at the end of each update, are reused, not
    returned to the kernel and faulted in again (glibc's default policy faults tens of thousands of pages here)."""
    if not keep_freed_memory():
        pytest.skip("the C library is not glibc")

    def update(mib):  # eight activations of `mib` MiB each, alive together, then freed
        activations = [torch.ones(mib * 2**18) for _ in range(8)]
        del activations

    sizes = [4, 12, 8, 16]
    for mib in sizes:  # the first epoch grows the heap
        update(mib)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for mib in sizes * 2:
        update(mib)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 2048  # 8 MiB of 4 KiB pages


# --- learning-rate schedule ------------------------------------------------------------------------


def test_inverse_sqrt_schedule():
    peak, warmup = 1e-3, 100
    expected = {1: peak / 100, 50: peak / 2, 100: peak, 400: peak / 2, 10000: peak / 10}
    for step, lr in expected.items():
        assert inverse_sqrt(step, peak, warmup) == pytest.approx(lr, rel=1e-12)
    rates = [inverse_sqrt(s, peak, warmup) for s in range(1, 1001)]
    assert max(rates) == pytest.approx(peak) and rates.index(max(rates)) == warmup - 1
    assert all(a < b for a, b in zip(rates[:warmup - 1], rates[1:warmup]))   # rises during warmup
    assert all(a > b for a, b in zip(rates[warmup:], rates[warmup + 1:]))    # then decays
    assert [inverse_sqrt(s, peak, 0) for s in (1, 10, 10**6)] == [peak] * 3


# --- optimizers and learning-rate decay on a BLEU plateau -----------------------------------------


@pytest.mark.parametrize("settings, kind, expected", [
    ([], torch.optim.Adam, {"lr": 5e-4, "betas": (0.9, 0.98), "eps": 1e-9, "weight_decay": 0.0}),
    (["train.optimizer.type=sgd", "train.optimizer.lr=0.1"], torch.optim.SGD,
     {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False}),
    (["train.optimizer.type=sgd", "train.optimizer.lr=1.0", "train.optimizer.momentum=0",
      "train.optimizer.weight_decay=1e-5"], torch.optim.SGD,
     {"lr": 1.0, "momentum": 0.0, "weight_decay": 1e-5}),
    (["train.optimizer.type=adadelta", "train.optimizer.lr=1.0"], torch.optim.Adadelta,
     {"lr": 1.0, "rho": 0.95, "eps": 1e-6, "weight_decay": 0.0}),
])
def test_each_optimizer_name_builds_that_torch_optimizer_with_its_hyperparameters(settings, kind, expected):
    model = torch.nn.Linear(3, 1, bias=False)
    optimizer = load_config(None, settings).train.optimizer.build(model)
    assert type(optimizer) is kind
    group = optimizer.param_groups[0]
    assert group["params"] == [model.weight]
    for key, value in expected.items():
        assert group[key] == value, key


def test_plateau_decay_multiplies_after_the_patience_and_stops_at_min_lr():
    decay = PlateauDecay(lr=1.0, factor=0.5, patience=2, min_lr=0.1)
    rates = []
    for bleu in (10.0, 9.0, 9.5, 11.0, 11.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0):
        decay.update(bleu)
        rates.append(decay.rate(step=100))
    # 10 best; 9, 9.5 two without a gain -> 0.5 (count restarts); 11 a gain; 11 (equal is no gain), 3 -> 0.25;
    # then every second validation halves: 0.125, then the floor 0.1 instead of 0.0625, and 0.1 stays
    assert rates == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.1, 0.1, 0.1, 0.1, 0.1])


def test_plateau_decay_warms_up_linearly():
    decay = PlateauDecay(lr=2.0, factor=0.5, patience=1, min_lr=0.0, warmup_steps=4)
    assert [decay.rate(s) for s in (1, 2, 4, 100)] == pytest.approx([0.5, 1.0, 2.0, 2.0])


def test_plateau_decay_state_round_trips():
    decay = PlateauDecay(lr=1.0, factor=0.5, patience=2, min_lr=0.01)
    for bleu in (5.0, 4.0, 4.0, 6.0, 2.0):
        decay.update(bleu)
    state = decay.state_dict()
    assert state == {"lr": 0.5, "best": 6.0, "bad_validations": 1}
    restored = PlateauDecay(lr=1.0, factor=0.5, patience=2, min_lr=0.01)
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    decay.update(1.0)
    restored.update(1.0)  # the restored object continues as the original: the second bad validation decays
    assert restored.rate(50) == decay.rate(50) == 0.25
    fresh = PlateauDecay(lr=1.0, factor=0.5, patience=2, min_lr=0.01)
    fresh.load_state_dict({})  # a checkpoint written under inverse_sqrt holds no plateau state
    assert fresh.rate(50) == 1.0 and fresh.best == float("-inf")


def test_lr_schedule_names_build_their_schedule():
    default = load_config().train.lr_schedule.build(peak_lr=5e-4)
    assert isinstance(default, InverseSqrt)
    assert [default.rate(s) for s in (1, 4000, 16000)] == [inverse_sqrt(s, 5e-4, 4000) for s in (1, 4000, 16000)]
    plateau = load_config(None, ["train.lr_schedule.type=plateau", "train.lr_schedule.factor=0.7",
                                 "train.lr_schedule.patience=3", "train.lr_schedule.min_lr=1e-5"]).train.lr_schedule
    plateau = plateau.build(peak_lr=5e-4)
    assert isinstance(plateau, PlateauDecay)
    assert (plateau.lr, plateau.factor, plateau.patience, plateau.min_lr) == (5e-4, 0.7, 3, 1e-5)


# --- early stopping ------------------------------------------------------------------------------


def test_early_stopping_patience():
    stop = EarlyStopping(patience=2)
    assert stop.update(10.0) is True and not stop.should_stop
    assert stop.update(9.0) is False and not stop.should_stop
    assert stop.update(12.0) is True and not stop.should_stop  # an improvement resets the count
    assert stop.update(12.0) is False and not stop.should_stop  # equal is not better
    assert stop.update(11.0) is False and stop.should_stop
    assert stop.best == 12.0
    restored = EarlyStopping(patience=2)
    restored.load_state_dict(stop.state_dict())
    assert restored.best == 12.0 and restored.should_stop


def test_early_stopping_counts_only_gains_above_min_delta_but_keeps_the_best_model_on_any_gain():
    stop = EarlyStopping(patience=2, min_delta=0.5)
    assert stop.update(10.0) is True and stop.bad_validations == 0
    assert stop.update(10.3) is True and stop.bad_validations == 1  # the best so far, too small to reset
    assert stop.update(10.4) is True and stop.bad_validations == 2 and stop.should_stop
    stop = EarlyStopping(patience=3, min_delta=0.5)
    for score in (10.0, 10.3, 10.6):  # small gains add up: 10.6 is 0.6 above the 10.0 that last counted
        stop.update(score)
    assert stop.bad_validations == 0 and stop.counted == 10.6
    restored = EarlyStopping(patience=3, min_delta=0.5)
    restored.load_state_dict(stop.state_dict())
    assert restored.update(11.0) is True and restored.bad_validations == 1  # 0.4 above 10.6
    older = EarlyStopping(patience=3, min_delta=0.5)
    older.load_state_dict({"best": 10.6, "bad_validations": 1})  # a checkpoint from before min_delta
    assert older.counted == 10.6 and older.bad_validations == 1


def test_validation_on_chrf_picks_best_and_stops_by_chrf(toy_corpus, fresh_run_dir):
    """train.validation.metric: chrf: best/ holds the first validation with the highest chrF, and patience
    counts validations without a chrF gain, whatever BLEU does (here it stays near 0 while chrF climbs)."""
    trainer = Trainer(tiny_config(toy_corpus, "train.validation.metric=chrf", "train.validation.every=20",
                                  "train.validation.patience=3", "train.lr_schedule.warmup_steps=20",
                                  "train.limits.max_steps=300"), fresh_run_dir)
    assert trainer.run() == trainer.stopping.best
    events = [json.loads(line) for line in trainer.run_dir.metrics.read_text().splitlines()]
    valid = [e for e in events if e["event"] == "valid"]
    chrf = [e["chrf"] for e in valid]
    best = json.loads((trainer.run_dir.best / "config.json").read_text())["info"]
    assert best["step"] == valid[chrf.index(max(chrf))]["step"] and best["valid_chrf"] == max(chrf)

    def stopped_at(metric):
        replay = EarlyStopping(patience=3)
        for validation in valid:
            replay.update(validation[metric])
            if replay.should_stop:
                return validation["step"]
        return None

    assert stopped_at("bleu") < valid[-1]["step"]  # on BLEU it would have stopped before this run ended
    early = events[-1]["reason"] == "early stopping"
    assert stopped_at("chrf") == (valid[-1]["step"] if early else None)


def test_early_stopping_patience_zero_never_stops():
    stop = EarlyStopping(patience=0)
    stop.update(5.0)
    for _ in range(50):
        stop.update(1.0)
    assert not stop.should_stop


# --- token batching ------------------------------------------------------------------------------

BUDGET = 60


@pytest.fixture(scope="module")
def lengths():
    rng = np.random.default_rng(0)
    src = rng.integers(1, 25, size=300)
    tgt = rng.integers(1, 25, size=300)
    src[17] = 80  # longer than the budget on its own: it must still be served, alone
    return src, tgt


def _sampler(lengths, seed=3):
    return TokenBatchSampler(pairs_of_lengths(*lengths), BUDGET, seed)


def _plan(sampler, epoch):
    """An epoch's batches as lists of indices, to compare."""
    return [batch.tolist() for batch in sampler.batches_of_epoch(epoch)]


def reference_batches(lengths, budget):
    """Greedy filling as a plain loop over length-sorted pairs: the rule batch_ends computes in NumPy."""
    batches, current, longest = [], [], 0
    for i, length in enumerate(lengths):
        if current and max(longest, length) * (len(current) + 1) > budget:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, length)
    return batches + [current] if current else batches


def test_batch_ends_fill_batches_as_the_greedy_loop_does():
    """Random sorted lengths (some longer than the budget alone) and budgets: the same batches."""
    from nmt.data.batching import batch_ends

    rng = np.random.default_rng(0)
    for trial in range(200):
        lengths = np.sort(rng.integers(1, 90, rng.integers(1, 400)))
        budget = int(rng.choice([50, 64, 300, 1000, 4096]))
        ends = batch_ends(lengths, budget)
        starts = [0, *ends[:-1]]
        assert [list(range(a, b)) for a, b in zip(starts, ends)] == reference_batches(lengths.tolist(), budget)


def test_each_epoch_serves_every_index_once_within_the_budget(lengths):
    sampler = _sampler(lengths)
    longest = np.maximum(lengths[0], lengths[1]) + 1
    for epoch in range(3):
        batches = _plan(sampler, epoch)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(len(longest)))
        for b in batches:
            assert b
            if len(b) > 1:
                assert max(longest[b]) * len(b) <= BUDGET
        assert [17] in batches


def test_batches_are_deterministic_per_seed_and_epoch(lengths):
    a, b = _sampler(lengths, seed=3), _sampler(lengths, seed=3)
    assert _plan(a, 0) == _plan(b, 0)
    assert _plan(a, 5) == _plan(b, 5)
    assert _plan(a, 0) != _plan(a, 1)
    assert _plan(a, 0) != _plan(_sampler(lengths, seed=4), 0)


def test_iteration_runs_epoch_after_epoch(lengths):
    sampler = _sampler(lengths)
    epoch0, epoch1 = _plan(sampler, 0), _plan(sampler, 1)
    it = iter(sampler)
    drawn = [(epoch, batch.tolist()) for epoch, batch in (next(it) for _ in range(len(epoch0) + len(epoch1)))]
    assert drawn == [(0, b) for b in epoch0] + [(1, b) for b in epoch1]


@pytest.mark.parametrize("offset", [0, 1, 7, -1])
def test_state_resumes_at_the_exact_next_batch(lengths, offset):
    """Stop after k batches (also exactly at and one past an epoch boundary); a new sampler
    loaded with the state continues with the very batches the old one would have drawn."""
    sampler = _sampler(lengths)
    n_epoch0 = len(sampler.batches_of_epoch(0))
    k = {0: 5, 1: n_epoch0, 7: n_epoch0 + 1, -1: n_epoch0 - 1}[offset]
    it = iter(sampler)
    for _ in range(k):
        next(it)
    state = sampler.state()
    expected = [(epoch, batch.tolist()) for epoch, batch in (next(it) for _ in range(n_epoch0 + 3))]
    resumed = _sampler(lengths)
    resumed.load_state(state)
    it2 = iter(resumed)
    assert [(epoch, batch.tolist()) for epoch, batch in (next(it2) for _ in range(n_epoch0 + 3))] == expected


def test_batches_made_ahead_in_loader_workers_are_those_made_on_demand(lengths):
    """Workers make every planned batch before the length limit of its draw is known; the batches that
    train, and the cursor a checkpoint keeps, are still those of drawing on demand, as the limit changes."""
    pairs = StoredPairs(*(EncodedSplit.from_sequences([[4 + i % 90] * int(n) for i, n in enumerate(side)])
                          for side in lengths))  # each pair's ids say which pair it is
    on_demand, ahead = TokenBatchSampler(pairs, BUDGET, 3), TokenBatchSampler(pairs, BUDGET, 3)
    drawn, made = iter(on_demand), admitted_batches(ahead, pairs, workers=2, pin_memory=False)
    for draw in range(40):
        on_demand.length_limit = ahead.length_limit = None if draw % 3 == 0 else 12 + draw
        epoch, indices = next(drawn)
        expected, batch = make_batch(*pairs.epoch(epoch), indices), next(made)
        assert all(torch.equal(getattr(batch, side), getattr(expected, side)) for side in ("src", "tgt_in", "tgt_out"))
        assert ahead.state() == on_demand.state()


def test_make_batch_shapes_and_padding():
    src = EncodedSplit.from_sequences([[5, 6, 7], [8]])
    tgt = EncodedSplit.from_sequences([[9], [10, 11, 12]])
    batch = make_batch(src, tgt, [0, 1])
    assert batch.src.tolist() == [[5, 6, 7, EOS_ID], [8, EOS_ID, PAD_ID, PAD_ID]]
    assert batch.tgt_in.tolist() == [[BOS_ID, 9, PAD_ID, PAD_ID], [BOS_ID, 10, 11, 12]]
    assert batch.tgt_out.tolist() == [[9, EOS_ID, PAD_ID, PAD_ID], [10, 11, 12, EOS_ID]]
    assert batch.n_tgt_tokens == 6


# --- the trainer -----------------------------------------------------------------------------------

K = 3  # steps per half in the resume test


def _cfg(toy_corpus, *extra):
    return tiny_config(toy_corpus, f"train.validation.every={K}", *extra)


def _weights(model):
    return {name: t.detach().clone() for name, t in model.state_dict().items()}


@pytest.fixture(scope="module")
def resume_runs(toy_corpus, run_dir, tmp_path_factory):
    """Train 2K steps straight, and K steps + resume for K more, in two copies of the run dir."""
    import shutil

    root = tmp_path_factory.mktemp("resume")
    straight_dir, split_dir = root / "straight", root / "split"
    shutil.copytree(run_dir, straight_dir)
    shutil.copytree(run_dir, split_dir)

    straight = Trainer(_cfg(toy_corpus, f"train.limits.max_steps={2 * K}"), straight_dir)
    straight.run()

    first = Trainer(_cfg(toy_corpus, f"train.limits.max_steps={K}"), split_dir)
    first.run()
    first_weights = _weights(first.model)
    exported = load_model(split_dir / "best")  # best/ after the only validation: the step-K model
    first_translations = _translations(first.model, first.tokenizers, first.cfg, first.valid_src)
    exported_translations = _translations(exported[0], exported[1], first.cfg, first.valid_src)

    second = Trainer(_cfg(toy_corpus, f"train.limits.max_steps={2 * K}"), split_dir)
    second.resume()
    assert second.step == K
    second.run()
    return {"straight": straight, "first": first, "second": second, "first_weights": first_weights,
            "exported": exported, "first_translations": first_translations,
            "exported_translations": exported_translations}


def _translations(model, tokenizers, cfg, lines, beam=2):
    translator = Translator(model, tokenizers, "cpu", cfg.decode, beam=beam, n_best=1)
    return [(n[0].text, n[0].score) for n in translator.translate_nbest(lines)]


def test_resume_continues_exactly(resume_runs):
    straight, second = resume_runs["straight"], resume_runs["second"]
    assert straight.step == second.step == 2 * K
    assert straight.sampler.state() == second.sampler.state()
    a, b = straight.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # training did change the weights (so equality above is not vacuous), and dropout was on
    assert straight.cfg.model.dropout > 0
    assert any(not torch.equal(resume_runs["first_weights"][n], a[n]) for n in a)


def test_resume_is_exact_with_sgd_plateau_decay_and_scheduled_sampling(toy_corpus, run_dir, tmp_path):
    """The plateau state and the draws of scheduled sampling (sampled tokens, gold or not) survive a resume."""
    # validating every step, the tiny model's BLEU stays 0: from the second validation on, each one halves the lr
    settings = ["train.validation.every=1", "train.validation.size=4", "train.optimizer.type=sgd",
                "train.optimizer.lr=0.5", "train.lr_schedule.type=plateau", "train.lr_schedule.patience=1",
                "train.scheduled_sampling.enabled=true", "train.scheduled_sampling.schedule=linear",
                "train.scheduled_sampling.k=0.8", "train.scheduled_sampling.c=0.05"]
    straight, second = train_straight_and_resumed(toy_corpus, run_dir, tmp_path, settings, steps=4)
    assert isinstance(second.optimizer, torch.optim.SGD) and second.scheduled_sampling.pick == "sample"
    assert second.lr_schedule.state_dict() == straight.lr_schedule.state_dict()
    assert straight.lr_schedule.lr < 0.5  # it did decay, so the restored state mattered
    assert second.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    assert_same_parameters(straight.model, second.model)


@pytest.mark.parametrize("changed, error", [("train.optimizer.type=sgd", "train.optimizer.type adam, not sgd"),
                                            ("train.validation.metric=chrf", "validated on bleu, not chrf")])
def test_resume_with_another_optimizer_or_validation_metric_is_refused(toy_corpus, fresh_run_dir, changed, error):
    Trainer(tiny_config(toy_corpus, "train.limits.max_steps=1", "train.validation.size=2"), fresh_run_dir).run()
    other = Trainer(tiny_config(toy_corpus, "train.limits.max_steps=2", changed), fresh_run_dir)
    with pytest.raises(NmtError, match=error):
        other.resume()


def test_exported_best_translates_like_the_in_memory_model(resume_runs):
    model, tokenizers, decode_cfg = resume_runs["exported"]
    first = resume_runs["first"]
    assert decode_cfg == first.cfg.decode
    assert tokenizers.joint == first.tokenizers.joint
    exported_weights = model.state_dict()
    for name, tensor in resume_runs["first_weights"].items():
        assert torch.equal(exported_weights[name], tensor), name
    assert model.src_embed.weight is model.output.weight  # tying survives export (joint vocabulary)
    assert resume_runs["exported_translations"] == resume_runs["first_translations"]
    assert len(resume_runs["first_translations"]) == len(first.valid_src) > 0


def loss_per_token(model, batch):
    """The model's plain cross-entropy per target token on `batch`, in eval mode."""
    with torch.no_grad():
        model.eval()
        logits = model(batch.src, batch.tgt_in)
        return float(F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.tgt_out.reshape(-1),
                                     ignore_index=PAD_ID))


def test_training_reduces_the_loss(fresh_run_dir, toy_corpus):
    """A few dozen steps of a tiny model on the toy language: the per-token loss goes down."""
    trainer = Trainer(tiny_config(toy_corpus, "train.limits.max_steps=40", "train.validation.every=1000",
                                  "model.dropout=0.0", "train.label_smoothing=0.0"), fresh_run_dir)
    batch_ids = trainer.sampler.batches_of_epoch(0)[0]
    batch = make_batch(*trainer.pairs.epoch(0), batch_ids)
    before = loss_per_token(trainer.model, batch)
    trainer.run()
    assert trainer.step == 40
    assert loss_per_token(trainer.model, batch) < 0.8 * before
    assert (fresh_run_dir / "best" / "model.safetensors").is_file()
    assert (fresh_run_dir / "checkpoints" / "last.pt").is_file()


def test_fp16_skips_an_overflowing_update_lowers_the_loss_scale_and_trains_on(fresh_run_dir, toy_corpus):
    """fp16 autocast with loss scaling, from a scale far too high for fp16: the first update's gradients
    overflow, so it is skipped with the weights untouched and the scale halved; the run goes on through
    more overflows than train.max_nonfinite (they are not failures), trains, and its checkpoint keeps the scale
    for a resumed run."""
    from nmt.train.checkpoint import load_checkpoint

    cfg = tiny_config(toy_corpus, "train.compute.precision=fp16", "train.limits.max_steps=60", "model.dropout=0.0",
                      "train.label_smoothing=0.0", "train.validation.every=60")
    trainer = Trainer(cfg, fresh_run_dir)
    trainer.loss_scaler = trainer.update.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 30)
    batch = make_batch(*trainer.pairs.epoch(0), list(range(16)))
    weights = {name: p.clone() for name, p in trainer.model.named_parameters()}
    before = loss_per_token(trainer.model, batch)
    assert trainer.update([batch], step=1) is None
    assert trainer.loss_scaler.get_scale() == 2.0 ** 29
    assert all(torch.equal(p, weights[name]) for name, p in trainer.model.named_parameters())

    trainer.run()
    events = [json.loads(line) for line in (fresh_run_dir / "metrics.jsonl").read_text().splitlines()]
    overflows = [e for e in events if e["event"] == "overflow"]
    assert len(overflows) > cfg.train.max_nonfinite and trainer.step == 60
    assert loss_per_token(trainer.model, batch) < 0.8 * before
    saved = load_checkpoint(fresh_run_dir / "checkpoints" / "last.pt")["loss_scale"]
    assert saved["scale"] == trainer.loss_scaler.get_scale() <= overflows[-1]["loss_scale"]
    resumed = Trainer(cfg, fresh_run_dir)
    resumed.resume()
    assert resumed.loss_scaler.get_scale() == saved["scale"]


@pytest.mark.parametrize("device, cuda_bf16, cpu_bf16, expected", [
    ("cuda", True, None, "bf16"), ("cuda", False, None, "fp16"),
    ("cpu", False, True, "bf16"), ("cpu", False, False, "fp32"), ("cpu", False, None, "fp32")])
def test_precision_auto_is_what_the_hardware_computes_in(monkeypatch, device, cuda_bf16, cpu_bf16, expected):
    """bf16 on GPUs and CPUs with bf16 arithmetic, fp16 (loss-scaled) on older GPUs, fp32 on other CPUs
    (also where torch cannot tell); a precision named in the config stands."""
    import nmt.device

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: cuda_bf16)
    monkeypatch.setattr(nmt.device, "bf16_instructions", lambda: cpu_bf16)
    assert nmt.device.resolve_precision("auto", torch.device(device)) == expected
    assert nmt.device.resolve_precision("fp32", torch.device(device)) == "fp32"


def test_max_epochs_trains_exactly_that_many_epochs(fresh_run_dir, toy_corpus):
    """max_epochs=1 must stop after the last batch of epoch 0, not draw a batch of epoch 1."""
    trainer = Trainer(tiny_config(toy_corpus, "train.limits.max_epochs=1", "train.batch_tokens=2000"), fresh_run_dir)
    n_batches = len(trainer.sampler.batches_of_epoch(0))
    trainer.run()
    assert trainer.step == n_batches


def assert_same_update(reference, reference_batches, other, other_batches):
    """The two trainers' updates at step 1 have the same loss and gradients, up to float rounding."""
    assert other.update(other_batches, step=1) == pytest.approx(reference.update(reference_batches, step=1), rel=1e-5)
    for a, b in zip(reference.model.parameters(), other.model.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7)


def test_out_of_gpu_memory_retries_the_same_update_in_parts(fresh_run_dir, toy_corpus, capsys):
    """A batch that does not fit is split until it does; the update equals the unsplit one."""
    settings = ("model.dropout=0.0", "train.limits.max_steps=1")
    plain, split = (Trainer(tiny_config(toy_corpus, *settings), fresh_run_dir) for _ in range(2))
    split.model.load_state_dict(plain.model.state_dict())
    batch = make_batch(*plain.pairs.epoch(0), list(range(12)))
    fits = split.model.decoder_states

    def forward_that_fits_three_sentences(src, tgt_in):
        if src.size(0) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return fits(src, tgt_in)

    split.model.decoder_states = forward_that_fits_three_sentences
    assert_same_update(plain, [batch], split, [batch])
    assert "retrying the update in 4 parts" in capsys.readouterr().out


def test_pass_tokens_runs_a_batch_in_parts_and_gives_the_same_update(fresh_run_dir, toy_corpus):
    settings = ("model.dropout=0.0", "train.limits.max_steps=1")
    whole = Trainer(tiny_config(toy_corpus, *settings), fresh_run_dir)
    batch = make_batch(*whole.pairs.epoch(0), list(range(12)))
    in_parts = Trainer(tiny_config(toy_corpus, *settings, f"train.compute.pass_tokens={3 * batch.padded_tokens // 12}"),
                       fresh_run_dir)
    in_parts.model.load_state_dict(whole.model.state_dict())
    sizes = []
    forward = in_parts.model.decoder_states
    in_parts.model.decoder_states = lambda src, tgt_in: sizes.append(len(src)) or forward(src, tgt_in)
    assert_same_update(whole, [batch], in_parts, [batch])
    assert sizes == [3, 3, 3, 3]


@pytest.mark.parametrize("clip", [1e-3, 1e9])
def test_gradient_clipping_gives_the_update_of_clip_grad_norm(fresh_run_dir, toy_corpus, clip):
    """A clip below the gradient's norm scales it as torch's clip_grad_norm_ does; a clip above it (the trainer
    then skips the scaling) gives the same parameters as clip_grad_norm_'s multiplication by 1."""
    settings = ("model.dropout=0.0", "train.limits.max_steps=1")
    clipped = Trainer(tiny_config(toy_corpus, *settings, f"train.clip_norm={clip}"), fresh_run_dir)
    reference = Trainer(tiny_config(toy_corpus, *settings, "train.clip_norm=0"), fresh_run_dir)
    reference.model.load_state_dict(clipped.model.state_dict())
    step = reference.optimizer.step
    norms = []

    def clip_then_step():
        norms.append(float(torch.nn.utils.clip_grad_norm_(reference.model.parameters(), clip)))
        step()

    reference.optimizer.step = clip_then_step
    batch = make_batch(*clipped.pairs.epoch(0), list(range(12)))
    assert clipped.update([batch], step=1) == reference.update([batch], step=1)
    assert (norms[0] > clip) == (clip < 1)  # each case happened
    for a, b in zip(clipped.model.parameters(), reference.model.parameters()):
        assert torch.equal(a, b)


def test_out_of_gpu_memory_on_one_sentence_is_a_clear_error(fresh_run_dir, toy_corpus):
    trainer = Trainer(tiny_config(toy_corpus), fresh_run_dir)
    batch = make_batch(*trainer.pairs.epoch(0), [0, 1])

    def never_fits(src, tgt_in):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    trainer.model.decoder_states = never_fits
    with pytest.raises(NmtError, match="single sentence"):
        trainer.update([batch], step=1)


# --- gradient accumulation -------------------------------------------------------------------------


def test_an_update_of_four_batches_equals_one_batch_of_all_their_sentences(fresh_run_dir, toy_corpus):
    """The loss is divided by the target tokens of the whole update, so splitting it changes nothing
    (up to float rounding and padding, which masks keep out of the result)."""
    settings = ("model.dropout=0.0", "train.label_smoothing=0.1")
    whole, split = (Trainer(tiny_config(toy_corpus, *settings), fresh_run_dir) for _ in range(2))
    split.model.load_state_dict(whole.model.state_dict())
    sentences = list(range(40, 56))
    before = [p.detach().clone() for p in whole.model.parameters()]
    parts = [make_batch(*split.pairs.epoch(0), sentences[i:i + 4]) for i in range(0, 16, 4)]
    assert_same_update(whole, [make_batch(*whole.pairs.epoch(0), sentences)], split, parts)
    assert any(not torch.equal(a, b) for a, b in zip(before, whole.model.parameters()))  # it did update


def test_accumulation_counts_updates_and_resumes_exactly(toy_corpus, run_dir, tmp_path):
    settings = ["train.accumulate=3", "train.validation.every=2", "train.validation.size=4"]
    straight, second = train_straight_and_resumed(toy_corpus, run_dir, tmp_path, settings, steps=4)
    assert straight.step == second.step == 4
    assert straight.sampler.state() == second.sampler.state() == {"epoch": 0, "position": 12}
    assert_same_parameters(straight.model, second.model)


# --- budgeted LR schedules and AdamW ------------------------------------------------------------------


@pytest.mark.parametrize("kind, expected", [
    # peak 2.0, warmup 10, budget 110: the decay runs over the 100 updates after the warmup
    ("linear", {5: 1.0, 10: 2.0, 35: 1.5, 60: 1.0, 110: 0.0, 500: 0.0}),
    ("cosine", {5: 1.0, 10: 2.0, 35: 1.0 + 2 ** -0.5, 60: 1.0, 110: 0.0}),
    ("rex", {5: 1.0, 10: 2.0, 35: 2 * 0.75 / 0.875, 60: 2 * 0.5 / 0.75, 85: 2 * 0.25 / 0.625, 110: 0.0}),
])
def test_each_budgeted_schedule_matches_its_formula(kind, expected):
    schedule = load_config(None, [f"train.lr_schedule.type={kind}", "train.lr_schedule.warmup_steps=10",
                                  "train.limits.max_steps=110"]).train.lr_schedule.build(peak_lr=2.0, max_steps=110)
    assert {step: schedule.rate(step) for step in expected} == pytest.approx(expected)


def test_adamw_decays_weight_matrices_but_not_biases_norms_or_embeddings():
    from conftest import make_transformer

    model = make_transformer(share_embeddings=True)
    optimizer = load_config(None, ["train.optimizer.type=adamw", "train.optimizer.weight_decay=0.1"]
                            ).train.optimizer.build(model)
    decayed, kept = ({id(p) for p in group["params"]} for group in optimizer.param_groups)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]
    for name, param in model.named_parameters():
        matrix = param.ndim == 2 and "embed" not in name and "output" not in name  # output is tied to the embedding
        assert (id(param) in decayed) == matrix, name
    assert len(decayed) + len(kept) == len({id(p) for p in model.parameters()})


def test_a_wordpiece_model_exported_to_best_translates_the_same_after_reload(toy_corpus, tmp_path):
    from nmt.data.preprocess import preprocess

    # one validation, at the last step: best/ holds the model the trainer ends with
    cfg = tiny_config(toy_corpus, "tokenizer.type=wordpiece", "tokenizer.joint=false", "train.limits.max_steps=4",
                      "train.validation.every=4", "train.validation.size=8")
    preprocess(cfg, tmp_path / "run", log=lambda m: None)
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.run()
    model, tokenizers, decode_cfg = load_model(tmp_path / "run" / "best")
    assert model_languages(tmp_path / "run" / "best") == ("en", "toy")  # what distill and backtranslate read
    assert tokenizers.src.kind == tokenizers.tgt.kind == "wordpiece" and not tokenizers.joint
    assert tokenizers.src.pieces() == trainer.tokenizers.src.pieces()
    lines = trainer.valid_src
    expected = Translator(trainer.model, trainer.tokenizers, "cpu", decode_cfg).translate(lines)
    assert Translator(model, tokenizers, "cpu", decode_cfg).translate(lines) == expected
    assert any(expected)
