"""Shared fixtures: a tiny toy corpus, one preprocessed run directory, tiny seeded models.

Everything is small and seeded. Nothing here is a golden number: tests compare the code with itself
(incremental vs full, batched vs alone, beam 1 vs greedy) or with an independent formula.
"""
import os
import shutil
import subprocess
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from nmt.config import load_config  # noqa: E402
from nmt.data.batching import pad  # noqa: E402
from nmt.data.preprocess import preprocess  # noqa: E402
from nmt.data.toy import write_toy_corpus  # noqa: E402
from nmt.decode.beam import BeamSearch  # noqa: E402
from nmt.decode.greedy import GreedySearch  # noqa: E402
from nmt.decode.rules import SearchRules  # noqa: E402
from nmt.decode.sampling import SamplingSearch  # noqa: E402
from nmt.models.build import RNNConfig, TransformerConfig  # noqa: E402
from nmt.models.rnn import RNNModel  # noqa: E402
from nmt.models.transformer import Transformer  # noqa: E402
from nmt.tokenize import load_tokenizers  # noqa: E402
from nmt.tokenize.base import BOS_ID, EOS_ID  # noqa: E402

torch.set_num_threads(1)

SIZES = {"train": 600, "val": 40, "test": 40}

# A tiny experiment: small vocabulary, a model of width 16, quick validation.
TINY_MODELS = {
    "transformer": ["model.d_model=16", "model.heads=2", "model.encoder_layers=1", "model.decoder_layers=1",
                    "model.ff_size=32", "model.dropout=0.1"],
    "rnn": ["model.type=rnn", "model.embedding_dim=16", "model.hidden=16", "model.dropout=0.1"],
}
TINY_SETTINGS = [
    "name=tiny", "data.src_lang=en", "data.tgt_lang=toy", "train.validation.size=16",
    "tokenizer.vocab_size=320",
    "train.compute.device=cpu", "train.compute.threads=1", "train.batch_tokens=300", "train.log_every=1000",
    "train.optimizer.lr=3e-3", "train.lr_schedule.warmup_steps=4",
    "train.validation.every=1000", "train.validation.patience=0",
    "decode.beam=2", "decode.max_len_a=1.0", "decode.max_len_b=4",
]


def tiny_config(corpus_dir, *extra, family="transformer"):
    return load_config(None, TINY_SETTINGS + TINY_MODELS[family] + [f"data.dir={corpus_dir}", *extra])


def untrained_model_dir(directory, corpus, tokenizers, *settings, family="transformer"):
    """A model directory of a tiny model with seeded random weights."""
    from nmt.export import export_model
    from nmt.models import build_model

    cfg = tiny_config(corpus, *settings, family=family)
    torch.manual_seed(0)
    model = build_model(cfg.model, tokenizers.src.vocab_size, tokenizers.tgt.vocab_size, tokenizers.joint)
    export_model(directory, model, cfg.model, cfg.decode, tokenizers)
    return directory


def train_straight_and_resumed(corpus_dir, run_dir, tmp_path, settings, steps):
    """Two copies of the preprocessed run: one trained `steps` updates straight, one trained half of them,
    then resumed in a new Trainer to `steps`. Returns both Trainers, for exact-resume tests."""
    from nmt.train.loop import Trainer

    def trainer(name, max_steps):
        return Trainer(tiny_config(corpus_dir, *settings, f"train.limits.max_steps={max_steps}"), tmp_path / name)

    for name in ("straight", "split"):
        shutil.copytree(run_dir, tmp_path / name)
    straight = trainer("straight", steps)
    straight.run()
    trainer("split", steps // 2).run()
    resumed = trainer("split", steps)
    resumed.resume()
    resumed.run()
    return straight, resumed


def pairs_of_lengths(src_lengths, tgt_lengths):
    """Training pairs of the given lengths (every token id 4), for the batch sampler."""
    from nmt.data.dataset import EncodedSplit
    from nmt.data.resegment import StoredPairs

    return StoredPairs(*(EncodedSplit.from_sequences([[4] * int(n) for n in lengths])
                         for lengths in (src_lengths, tgt_lengths)))


def assert_same_parameters(a, b):
    for (name, x), y in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(x, y), name


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory):
    """Folder with {train,val,test}.{en,toy}: 600 / 40 / 40 distinct sentence pairs."""
    return write_toy_corpus(tmp_path_factory.mktemp("toy_corpus"), sizes=SIZES)


@pytest.fixture(scope="session")
def tiny_cfg(toy_corpus):
    return tiny_config(toy_corpus)


@pytest.fixture(scope="session")
def run_dir(tiny_cfg, tmp_path_factory):
    """A preprocessed run directory (tokenizer, encoded train data, dev text, manifest).

    Session-scoped and shared: tests that train must copy it (see `fresh_run_dir`)."""
    root = tmp_path_factory.mktemp("run") / "tiny"
    preprocess(tiny_cfg, root, log=lambda m: None)
    return root


@pytest.fixture(scope="session")
def tokenizers(run_dir):
    return load_tokenizers(run_dir / "tokenizer")


@pytest.fixture
def fresh_run_dir(run_dir, tmp_path):
    """A private copy of the preprocessed run directory that a test may train in."""
    dest = tmp_path / "run"
    shutil.copytree(run_dir, dest)
    return dest


def make_transformer(seed=0, src_vocab=13, tgt_vocab=13, d_model=16, heads=2, layers=1, ff_size=32,
                     dropout=0.0, share_embeddings=False, tie_output=True, pre_norm=True, max_positions=64):
    """A tiny Transformer with seeded random weights, in eval mode."""
    torch.manual_seed(seed)
    cfg = TransformerConfig(d_model=d_model, heads=heads, encoder_layers=layers, decoder_layers=layers,
                            ff_size=ff_size, dropout=dropout, norm="pre" if pre_norm else "post",
                            tie_output=tie_output, max_positions=max_positions)
    return Transformer(cfg, src_vocab, tgt_vocab, share_embeddings).eval()


def cli(*args, stdin=None, cwd=None, timeout=120):
    """Run `python -m nmt.cli ARGS` in a subprocess; returns the CompletedProcess (text mode)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "nmt.cli", *map(str, args)], input=stdin, capture_output=True,
                          text=True, encoding="utf-8", cwd=cwd, env=env, timeout=timeout)


@pytest.fixture
def run_cli():
    return cli


VOCAB = 13  # vocabulary of the hand-built models: ids 4..12 are ordinary tokens


def make_rnn(seed=0, src_vocab=VOCAB, tgt_vocab=VOCAB, embedding_dim=8, hidden=12, dropout=0.0, emb_dropout=0.0,
             share_embeddings=False, **settings):
    """A tiny RNN model with seeded random weights, in eval mode; `settings`: other keys of its section."""
    torch.manual_seed(seed)
    cfg = RNNConfig(embedding_dim=embedding_dim, hidden=hidden, dropout=dropout, emb_dropout=emb_dropout, **settings)
    return RNNModel(cfg, src_vocab, tgt_vocab, share_embeddings).eval()


def random_tokens(generator, length):
    return torch.randint(4, VOCAB, (length,), generator=generator).tolist()


def example_batch(seed=0, src_lengths=(5, 2, 7), tgt_len=6):
    """Right-padded sources ending in EOS of varied length, and BOS-first target inputs."""
    g = torch.Generator().manual_seed(seed)
    src = pad([random_tokens(g, n) + [EOS_ID] for n in src_lengths])
    tgt_in = torch.tensor([[BOS_ID] + random_tokens(g, tgt_len - 1) for _ in src_lengths])
    return src, tgt_in


def assert_step_decoding_matches_forward(model, src, tgt_in, reorder=None, beams=None):
    """encode() + decode_step() reproduce forward()'s log-probabilities at every target position,
    also when the state's rows are reordered and repeated by `reorder` after the first step, as beam
    search does (each row must keep decoding its own prefix): with `beams`, by `DecodingState.reorder` into
    beam search's layout of `beams` rows a sentence; without, by `DecodingState.select`."""
    with torch.no_grad():
        expected = F.log_softmax(model(src, tgt_in).float(), dim=-1)
        state = model.encode(src)
        parts = (state.source, state.rows, state.history)
        assert all(t.size(0) == src.size(0) for part in parts for t in part.values())  # batch-first
        rows = torch.arange(src.size(0))
        for t in range(tgt_in.size(1)):
            if t == 1 and reorder is not None:
                rows, state = reorder, state.reorder(reorder, beams) if beams else state.select(reorder)
            log_probs, state = model.decode_step(tgt_in[rows, t], state)
            assert log_probs.dtype == torch.float32
            torch.testing.assert_close(log_probs, expected[rows, t], rtol=0, atol=1e-5)


# --- the searches, called as the decoding tests call them -----------------------------------------------

def greedy_search(model, src, max_len_a, max_len_b, rules=SearchRules()):
    """Greedy search's outputs (EOS excluded) and their log-probabilities, one per source row."""
    outputs = [nbest[0] for nbest in GreedySearch(max_len_a, max_len_b, rules).run(model, src)]
    return [h.tokens for h in outputs], [h.score for h in outputs]


def sample_search(model, src, max_len_a, max_len_b, lines, rules=SearchRules(), **sampling):
    """Sampled outputs and their log-probabilities, one per source row (row i is input line lines[i])."""
    outputs = [nbest[0] for nbest in SamplingSearch(**sampling, max_len_a=max_len_a, max_len_b=max_len_b,
                                                    rules=rules).run(model, src, lines)]
    return [h.tokens for h in outputs], [h.score for h in outputs]


def beam_search(model, src, beam, lenpen, max_len_a, max_len_b, n_best=1, rules=SearchRules(), length_norm="gnmt"):
    """n_best Hypotheses per source row, best first."""
    return BeamSearch(beam, lenpen, length_norm, n_best, max_len_a=max_len_a, max_len_b=max_len_b,
                      rules=rules).run(model, src)
