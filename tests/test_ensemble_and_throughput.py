"""Ensembles, batch invariance of every decoder, the Translator's batching and streaming, and
lower-precision decoding."""
import copy

import pytest
import torch

from conftest import beam_search, greedy_search, make_rnn, make_transformer, sample_search
from nmt.data.batching import pad
from nmt.decode.ensemble import Ensemble, check_same_vocabularies
from nmt.decode.precision import cast_weights, quantize_int8
from nmt.decode.translate import Translator
from nmt.errors import NmtError
from nmt.models import build_model
from nmt.tokenize.base import Tokenizers
from test_decode import LINES, MAX_LEN_A, MAX_LEN_B, eos_leaning_model, random_sources


SOURCES = random_sources(0, lengths=(1, 3, 6, 9, 4, 2, 7, 5, 8, 3, 1, 6))


def greedy(model, src, lines):
    tokens, scores = greedy_search(model, src, MAX_LEN_A, MAX_LEN_B)
    return [[(t, s)] for t, s in zip(tokens, scores)]


def beam(model, src, lines):
    hyps = beam_search(model, src, 4, 1.0, MAX_LEN_A, MAX_LEN_B, n_best=4)
    return [[(h.tokens, h.score) for h in nbest] for nbest in hyps]


def sample(model, src, lines):
    tokens, scores = sample_search(model, src, MAX_LEN_A, MAX_LEN_B, lines, temperature=1.3, top_p=0.9, seed=11)
    return [[(t, s)] for t, s in zip(tokens, scores)]


def mixed_ensemble():
    return Ensemble([eos_leaning_model(0), make_rnn(seed=3, layer_norm=True).eval()])


DECODERS = {"greedy": (greedy, lambda: eos_leaning_model(0)), "beam": (beam, lambda: eos_leaning_model(1)),
            "ensemble-beam": (beam, mixed_ensemble), "ensemble-greedy": (greedy, mixed_ensemble),
            "sampling": (sample, lambda: eos_leaning_model(2))}


@pytest.mark.parametrize("name", DECODERS)
def test_a_batch_gives_exactly_each_sentence_alone(name):
    decode, make_model = DECODERS[name]
    model = make_model()
    batched = decode(model, pad(SOURCES), list(range(len(SOURCES))))
    for line, source in enumerate(SOURCES):
        (alone,) = decode(model, torch.tensor([source]), [line])
        assert [tokens for tokens, _ in batched[line]] == [tokens for tokens, _ in alone]
        assert [score for _, score in batched[line]] == pytest.approx([score for _, score in alone], abs=1e-5)
        if len(alone) > 1:  # n-best: sorted, distinct
            assert [s for _, s in alone] == sorted((s for _, s in alone), reverse=True)
            assert len({tuple(t) for t, _ in alone}) == len(alone)


@pytest.mark.parametrize("decode", [greedy, beam])
@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_an_ensemble_of_a_model_with_itself_is_the_model(family, decode):
    model = make_transformer(seed=4) if family == "transformer" else make_rnn(seed=4)
    src = pad(SOURCES)
    alone, pair = decode(model, src, None), decode(Ensemble([model, model]), src, None)
    assert any(tokens for nbest in alone for tokens, _ in nbest)  # not only empty outputs
    for ours, theirs in zip(pair, alone):
        assert [t for t, _ in ours] == [t for t, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-5)


def test_an_ensemble_averages_probabilities():
    first, second = eos_leaning_model(5), eos_leaning_model(6)
    src = pad(SOURCES[:3])
    with torch.no_grad():
        log_probs = [m.decode_step(torch.full((3,), 2), m.encode(src))[0] for m in (first, second)]
        averaged, _ = Ensemble([first, second]).decode_step(torch.full((3,), 2), Ensemble([first, second]).encode(src))
    torch.testing.assert_close(averaged.exp(), (log_probs[0].exp() + log_probs[1].exp()) / 2)


class FakeTokenizer:
    def __init__(self, pieces):
        self._pieces = pieces

    def pieces(self):
        return self._pieces


def test_ensemble_members_with_different_vocabularies_are_refused():
    same = Tokenizers(FakeTokenizer(["a", "b"]), FakeTokenizer(["x", "y"]), joint=False)
    other_target = Tokenizers(FakeTokenizer(["a", "b"]), FakeTokenizer(["y", "x"]), joint=False)
    check_same_vocabularies([same, same], ["m1", "m2"])
    with pytest.raises(NmtError, match="--model m2: its target vocabulary differs from that of --model m1"):
        check_same_vocabularies([same, other_target], ["m1", "m2"])
    other_source = Tokenizers(FakeTokenizer(["b", "a"]), FakeTokenizer(["x", "y"]), joint=False)
    with pytest.raises(NmtError, match="--model m3: its source vocabulary differs"):
        check_same_vocabularies([same, same, other_source], ["m1", "m2", "m3"])


# --- the Translator: length-sorted batches, input order, streaming --------------------------------

@pytest.fixture(scope="module")
def parts(tokenizers, tiny_cfg):
    torch.manual_seed(0)
    model = build_model(tiny_cfg.model, tokenizers.src.vocab_size, tokenizers.tgt.vocab_size, tokenizers.joint)
    return model.eval(), tokenizers


MANY_LINES = LINES * 3 + ["a dog", "the small cat sees the big dog near my house", "my friend"]


def test_translator_decodes_length_sorted_batches(parts, monkeypatch):
    model, tokenizers = parts
    translator = Translator(model, tokenizers, "cpu", beam=1, max_len_a=1.0, max_len_b=3, batch_size=4)
    seen = []
    decode_batch = translator.decode_batch
    monkeypatch.setattr(translator, "decode_batch", lambda ids, lines: seen.append(ids) or decode_batch(ids, lines))
    translator.translate(MANY_LINES)
    lengths = [len(ids) for batch in seen for ids in batch]
    assert lengths == sorted(lengths) and all(len(batch) <= 4 for batch in seen)


@pytest.mark.parametrize("beam", [1, 3])
def test_token_budget_batches_hold_the_budget_and_change_no_output(parts, monkeypatch, beam):
    model, tokenizers = parts
    by_count = Translator(model, tokenizers, "cpu", beam=beam, max_len_a=1.0, max_len_b=3, batch_size=64)
    by_tokens = Translator(model, tokenizers, "cpu", beam=beam, max_len_a=1.0, max_len_b=3, batch_size=64,
                           batch_tokens=40)
    seen = []
    decode_batch = by_tokens.decode_batch
    monkeypatch.setattr(by_tokens, "decode_batch", lambda ids, lines: seen.append(ids) or decode_batch(ids, lines))
    expected, got = by_count.translate_nbest(MANY_LINES), by_tokens.translate_nbest(MANY_LINES)
    assert [t.text for n in got for t in n] == [t.text for n in expected for t in n]
    assert [t.score for n in got for t in n] == pytest.approx([t.score for n in expected for t in n], abs=1e-5)
    padded = [len(batch) * max(len(ids) + 1 for ids in batch) for batch in seen]  # + 1: EOS
    assert len(seen) > 1  # a line longer than the budget alone is a batch of its own
    assert all(size <= 40 or len(batch) == 1 for size, batch in zip(padded, seen))


@pytest.mark.parametrize("settings", [dict(beam=1), dict(beam=3, n_best=2), dict(sample=True, seed=4)],
                         ids=["greedy", "beam-nbest", "sampling"])
def test_streamed_translation_equals_translating_everything_at_once(parts, settings):
    model, tokenizers = parts
    translator = Translator(model, tokenizers, "cpu", max_len_a=1.0, max_len_b=3, batch_size=3, **settings)
    whole = translator.translate_nbest(MANY_LINES)
    done = []
    streamed = list(translator.translate_stream(iter(MANY_LINES), chunk_lines=5, progress=done.append))
    assert [[t.text for t in n] for n in streamed] == [[t.text for t in n] for n in whole]
    for ours, theirs in zip(streamed, whole):
        assert [t.score for t in ours] == pytest.approx([t.score for t in theirs], rel=1e-6, abs=1e-5)
    assert sum(done) == len(MANY_LINES)  # the progress bar counts every line once


# --- lower precision ---------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["transformer", "rnn"])
@pytest.mark.parametrize("how", ["bf16", "int8"])
def test_low_precision_decoding_runs_and_keeps_every_line(parts, family, how):
    model = eos_leaning_model(7) if family == "transformer" else make_rnn(seed=7)
    model = cast_weights(model, "bf16", "cpu") if how == "bf16" else quantize_int8(model, "cpu")
    hyps = beam_search(model, pad(SOURCES), 3, 1.0, MAX_LEN_A, MAX_LEN_B, n_best=1)
    assert len(hyps) == len(SOURCES) and all(len(nbest) == 1 for nbest in hyps)
    model, tokenizers = copy.deepcopy(parts[0]), parts[1]  # casting changes the module in place
    translator = Translator(quantize_int8(model, "cpu") if how == "int8" else cast_weights(model, "bf16", "cpu"),
                            tokenizers, "cpu", beam=2, max_len_a=1.0, max_len_b=3)
    assert len(translator.translate(MANY_LINES)) == len(MANY_LINES)


def test_precision_options_refuse_a_device_they_do_not_run_on():
    with pytest.raises(NmtError, match="--dtype fp16 needs a CUDA device"):
        cast_weights(eos_leaning_model(0), "fp16", "cpu")
    with pytest.raises(NmtError, match="--quantize int8 runs on the CPU only"):
        quantize_int8(eos_leaning_model(0), "cuda")
    with pytest.raises(NmtError, match="--dtype fp8: expected one of fp32, bf16, fp16"):
        cast_weights(eos_leaning_model(0), "fp8", "cpu")


# --- through the command line ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(parts, tiny_cfg, tmp_path_factory):
    from nmt.export import export_model

    directory = tmp_path_factory.mktemp("exported") / "model"
    export_model(directory, parts[0], tiny_cfg.model, tiny_cfg.decode, parts[1])
    return directory


def test_cli_ensemble_sampling_and_options(parts, tiny_cfg, exported, run_cli):
    text = "".join(line + "\n" for line in MANY_LINES)
    model, tokenizers = parts

    def in_process(**overrides):
        translator = Translator(model, tokenizers, "cpu", tiny_cfg.decode, **overrides)
        return "".join(line + "\n" for line in translator.translate(MANY_LINES))

    pair = run_cli("translate", "--model", exported, exported, "--device", "cpu", stdin=text)
    assert pair.returncode == 0, pair.stderr
    assert pair.stdout == in_process()  # an ensemble of a model with itself is the model
    sample = run_cli("translate", "--model", exported, "--device", "cpu", "--sample", "--top-k", "5", "--seed", "3",
                     "--chunk-lines", "2", "--batch-size", "1", stdin=text)
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout == in_process(sample=True, top_k=5, seed=3)
    options = run_cli("translate", "--model", exported, "--device", "cpu", "--min-len", "2", "--no-repeat-ngram", "2",
                      "--unk-penalty", "1", "--length-norm", "plain", "--quantize", "int8", stdin=text)
    assert options.returncode == 0 and options.stdout.count("\n") == len(MANY_LINES), options.stderr


@pytest.mark.parametrize("args, expect", [
    (["--min-len", "-1"], "--min-len: Input should be greater than or equal to 0"),
    (["--no-repeat-ngram", "-2"], "--no-repeat-ngram: Input should be greater than or equal to 0"),
    (["--unk-penalty", "-1"], "--unk-penalty: Input should be greater than or equal to 0"),
    (["--length-norm", "average"], "--length-norm: Input should be 'gnmt' or 'plain'"),
    (["--n-best", "3"], "decode.n_best (3) must not exceed decode.beam (2)"),  # the model's beam, once loaded
    (["--sample", "--beam", "4"], "--sample draws one output per line"),
    (["--top-p", "0"], "--top-p: Input should be greater than 0"),
    (["--dtype", "bf16", "--quantize", "int8"], "--quantize int8 converts fp32 weights"),
    (["--dtype", "fp16"], "--dtype fp16 needs a CUDA device"),
])
def test_cli_bad_decoding_options_are_one_line_errors(exported, run_cli, args, expect):
    result = run_cli("translate", "--model", exported, "--device", "cpu", *args, stdin="a dog\n")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and expect in result.stderr, result.stderr
