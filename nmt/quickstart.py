"""`nmt quickstart`: the whole pipeline on a generated toy corpus, in a few CPU minutes, no download."""

from nmt.config import load_config
from nmt.data.corpus import read_lines
from nmt.data.preprocess import preprocess
from nmt.data.toy import write_toy_corpus
from nmt.decode.translate import Translator
from nmt.evaluate import format_scores, score_corpus
from nmt.export import load_model
from nmt.rundir import RunDir
from nmt.train.loop import train

# a small Transformer sized for the toy language and two CPU cores
SETTINGS = [
    "name=quickstart", "data.src_lang=en", "data.tgt_lang=toy",
    "tokenizer.vocab_size=400",
    "model.preset=tiny",
    "train.batch_tokens=2000", "train.optimizer.lr=3e-3", "train.lr_schedule.warmup_steps=100",
    "train.validation.every=100", "train.validation.patience=5", "train.log_every=25",
    "decode.beam=5",
]


def quickstart(run_dir, max_time, log=print):
    """Generate a corpus, preprocess, train for `max_time` seconds, translate the test set, print BLEU."""
    run = RunDir(run_dir)
    corpus = write_toy_corpus(run.root / "corpus")
    cfg = load_config(None, SETTINGS + [f"data.dir={corpus}", f"train.limits.max_time={max_time}"])
    log(f"== toy corpus in {corpus}; preprocessing")
    preprocess(cfg, run.root, log=log)
    log(f"== training for up to {max_time:.0f}s")
    train(cfg, run.root)
    log(f"== translating {corpus / 'test.en'} with beam {cfg.decode.beam}")
    model, tokenizers, decode = load_model(run.best)
    hypotheses = Translator(model, tokenizers, "cpu", decode).translate(read_lines(corpus / "test.en"))
    (run.root / "test.hyp.toy").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    scores = score_corpus(hypotheses, read_lines(corpus / "test.toy"))
    log(format_scores(scores))
    log(f"== model in {run.best}; try: echo 'The big dog sees a cat.' | nmt translate --model {run.best}")
    return scores
