"""The `nmt` command: argument parsing only; each subcommand calls one function of the modules.

A problem with the user's input is one line on stderr and exit code 2; `--debug` shows the traceback.
"""
import argparse
import contextlib
import json
import sys
from pathlib import Path

from nmt.allocator import restart_with_tcmalloc
from nmt.errors import NmtError


def _config_args(parser):
    parser.add_argument("--config", type=Path, help="experiment YAML (default: the run directory's config.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config key (repeatable), e.g. --set train.optimizer.lr=5e-4")
    parser.add_argument("--data-dir", type=Path, help="folder of {split}.{lang} files (sets data.dir)")
    parser.add_argument("--run-dir", type=Path, help="run directory (default: runs/NAME)")


def _decoder_args(p, model_flag="--model"):
    """The model and search flags of the commands that translate (translate, serve, distill, backtranslate)."""
    from nmt.decode.options import BATCH_OPTIONS, SEARCH_OPTIONS, add_flags

    p.add_argument(model_flag, dest="model", type=Path, nargs="+", required=True,
                   help="exported model directory (a run's best/); several: an ensemble averaging probabilities")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    add_flags(p, BATCH_OPTIONS)
    add_flags(p.add_argument_group("search (defaults: the model's decode settings)"), SEARCH_OPTIONS)
    speed = p.add_argument_group("precision")
    speed.add_argument("--dtype", default="fp32", help="weights' type: fp32 | bf16 | fp16 (CUDA only)")
    speed.add_argument("--quantize", choices=["int8"], help="int8 linear layers (dynamic quantisation, CPU only)")


def _translate_args(p):
    from nmt.decode.options import SAMPLING_OPTIONS, add_flags

    _decoder_args(p)
    p.add_argument("--input", type=Path, help="input file (default: stdin)")
    p.add_argument("--output", type=Path, help="output file (default: stdout)")
    p.add_argument("--chunk-lines", type=int, default=100_000, help="lines read, translated and written at a time")
    add_flags(p.add_argument_group("sampling (instead of search)"), SAMPLING_OPTIONS)


def _synthetic_corpus_args(p, model_flag, sampling):
    """The flags of the commands that write a corpus with a model (distill, backtranslate)."""
    from nmt.decode.options import SAMPLING_OPTIONS, add_flags

    _decoder_args(p, model_flag)
    p.add_argument("--out", type=Path, required=True, help="folder to write {split}.{lang} files into")
    p.add_argument("--split", default="train", help="name of the split written (default: train)")
    p.add_argument("--chunk-lines", type=int, default=100_000, help="lines read, translated and written at a time")
    p.add_argument("--src-lang", help="the model's source language (default: what its export records)")
    p.add_argument("--tgt-lang", help="the model's target language (default: what its export records)")
    if sampling:
        add_flags(p.add_argument_group("sampling (instead of search)"), SAMPLING_OPTIONS)


def _serve_args(p):
    from nmt.serve.limits import Limits  # a dataclass: no web framework imported to build the parser

    defaults = Limits()
    _decoder_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    limits = p.add_argument_group("batching and limits")
    limits.add_argument("--max-wait-ms", type=float, default=defaults.max_wait_ms,
                        help="a batch stays open while requests arrive less than this apart (10 times this at most)")
    limits.add_argument("--workers", type=int, default=defaults.workers,
                        help="decoder threads, each with its share of torch's CPU threads and of the batch size: one "
                             "gathers the next batch while the others translate (default 0: 2 on a CPU, 1 on a GPU)")
    limits.add_argument("--max-lines", type=int, default=defaults.max_lines, help="sentences in one request (at most)")
    limits.add_argument("--max-chars", type=int, default=defaults.max_chars, help="characters in one sentence (at most)")
    limits.add_argument("--max-queued", type=int, default=defaults.max_queued,
                        help="sentences waiting or being translated; more is refused with 503")
    p.add_argument("--access-log", action="store_true", help="log every request on stderr")


def _sweep_args(p):
    p.add_argument("--data-dir", type=Path, required=True, help="folder of {split}.{lang} files")
    p.add_argument("--out", type=Path, required=True,
                   help="folder of the results, tables and plots; run again to finish an interrupted sweep")
    p.add_argument("--max-time", type=float, required=True, metavar="SECONDS", help="training budget of each run")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key in every run (repeatable)")
    p.add_argument("--jobs", type=int, default=1, help="runs side by side on this machine, each with its share of "
                                                       "the cores (default: 1)")


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own (absent) --debug must not reset `nmt --debug COMMAND`; main() defaults it
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    parser = argparse.ArgumentParser(prog="nmt", parents=[common], description="Neural machine translation: "
                                     "fetch, preprocess, train, translate, evaluate.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fetch", parents=[common], help="write a Hugging Face dataset as {split}.{lang} files")
    p.add_argument("name", help="multi30k (de, en, fr, cs), mafand (one pair, e.g. --src en --tgt hau), "
                                "a hub dataset or a save_to_disk folder")
    p.add_argument("--src", default="", help="source language (default: the corpus's first pair, e.g. de for multi30k)")
    p.add_argument("--tgt", default="", help="target language")
    p.add_argument("--hf-config", default="", help="the hub dataset's configuration (e.g. de-en), if it has several")
    p.add_argument("--out", type=Path, help="folder to write (default: data/NAME; data/mafand/PAIR)")

    p = sub.add_parser("preprocess", parents=[common], help="clean the corpus, learn subwords, encode it")
    _config_args(p)
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="processes that clean and encode the training split (default: one per core)")
    p = sub.add_parser("train", parents=[common], help="train a model, validate on dev BLEU, export the best")
    _config_args(p)
    p.add_argument("--max-time", type=float, metavar="SECONDS",
                   help="wall-clock training budget (sets train.limits.max_time)")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoints/last.pt")

    p = sub.add_parser("translate", parents=[common], help="translate text with an exported model (or an ensemble)")
    _translate_args(p)

    p = sub.add_parser("serve", parents=[common], help="serve a model over HTTP, batching concurrent requests")
    _serve_args(p)

    p = sub.add_parser("export", parents=[common], help="convert an exported model for another inference engine")
    p.add_argument("--format", required=True, choices=["ctranslate2"], help="what to convert to")
    p.add_argument("--model", type=Path, required=True, help="exported model directory (a run's best/)")
    p.add_argument("--out", type=Path, required=True, help="folder to write; the tokenizer is copied into it")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")

    p = sub.add_parser("evaluate", parents=[common], help="score translations with sacreBLEU")
    p.add_argument("--hyp", type=Path, required=True, help="detokenised translations, one per line")
    p.add_argument("--ref", type=Path, required=True, help="references, one per line")
    p.add_argument("--metrics", nargs="+", default=["bleu", "chrf"], choices=["bleu", "chrf", "ter"])
    p.add_argument("--json", action="store_true", help="print scores and signatures as JSON")

    p = sub.add_parser("average", parents=[common], help="average kept checkpoints into a model directory")
    p.add_argument("--run-dir", type=Path, required=True, help="a run trained with train.keep_checkpoints")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=int, metavar="N", help="the N newest kept checkpoints")
    which.add_argument("--best", type=int, metavar="N",
                       help="the N kept checkpoints with the best dev score (train.validation.metric)")
    p.add_argument("--out", type=Path, help="model directory to write (default: RUN/averaged)")

    p = sub.add_parser("plot", parents=[common], help="draw loss and dev BLEU of one or more runs in one PNG")
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run directories")
    p.add_argument("--out", type=Path, default=Path("training.png"), help="PNG to write (default: training.png)")

    p = sub.add_parser("tune-vocab", parents=[common], help="one short run per tokenizer kind and vocabulary size")
    _sweep_args(p)
    p.add_argument("--config", type=Path, required=True, help="experiment YAML every run starts from")
    p.add_argument("--sizes", required=True, help="vocabulary sizes, e.g. 1000,2000,4000,8000,16000")
    p.add_argument("--kinds", help="tokenizer kinds, e.g. bpe,unigram,wordpiece (default: the config's)")

    p = sub.add_parser("curve", parents=[common], help="learning curves: test BLEU against training words")
    _sweep_args(p)
    p.add_argument("--configs", type=Path, nargs="+", required=True, help="experiment YAMLs, one line each")
    p.add_argument("--words", required=True, help="training words per run, e.g. 10000,20000,40000,all")
    p.add_argument("--seeds", type=int, default=1, help="every cell trains with seeds 1..N (default: 1)")
    p.add_argument("--test-split", default="test", help="split scored with each run's best model (default: test)")

    p = sub.add_parser("ablate", parents=[common], help="each trick on and off, over seeds: BLEU mean ± std, p-values")
    _sweep_args(p)
    p.add_argument("--config", type=Path, required=True, help="experiment YAML of the base arm")
    p.add_argument("--toggle", dest="toggles", action="append", required=True,
                   metavar="[NAME:]SECTION.KEY=VALUE",
                   help="one arm: the base with this one key changed, named NAME in the table (default: the "
                        "toggle itself); repeatable")
    p.add_argument("--seeds", type=int, default=3, help="every arm trains with seeds 1..N (default: 3)")
    p.add_argument("--test-split", default="test", help="split scored with each run's best model (default: test)")

    p = sub.add_parser("sweep", parents=[common], help="random search over config keys, scored on dev BLEU (optuna)")
    _sweep_args(p)
    p.add_argument("--config", type=Path, required=True, help="experiment YAML every trial starts from")
    p.add_argument("--space", type=Path, required=True, help="YAML of config keys and their distributions "
                                                             "(uniform, log_uniform, int, choice)")
    p.add_argument("--trials", type=int, required=True, help="finished trials (completed or pruned) to reach")
    p.add_argument("--storage", help="optuna storage URL that workers on several machines share "
                                     "(default: sqlite:///OUT/study.db)")

    p = sub.add_parser("distill", parents=[common], help="a corpus for a student: the teacher's translations of "
                                                          "the training source (sequence-level distillation)")
    _synthetic_corpus_args(p, "--teacher", sampling=False)
    p.add_argument("--data-dir", type=Path, required=True, help="folder of {split}.{lang} files to distill")

    p = sub.add_parser("backtranslate", parents=[common], help="synthetic pairs from target-side monolingual text "
                                                               "and a model of the reverse direction")
    _synthetic_corpus_args(p, "--model", sampling=True)
    p.add_argument("--mono", type=Path, required=True, help="monolingual text, one sentence a line, in the "
                                                            "model's source language")

    p = sub.add_parser("config", parents=[common], help="check and print a config, list every key, upgrade an old one")
    p.add_argument("--config", type=Path, help="experiment YAML to check; prints it resolved, every default filled in")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")
    p.add_argument("--show", action="store_true", help="list every key with its default and a one-line help")
    p.add_argument("--upgrade", type=Path, metavar="FILE", help="print a config of nmt 0.1 in today's layout")

    p = sub.add_parser("quickstart", parents=[common], help="run the whole pipeline on a generated toy corpus")
    p.add_argument("--run-dir", type=Path, default=Path("runs/quickstart"))
    p.add_argument("--max-time", type=float, default=120, metavar="SECONDS", help="training budget")
    return parser


def _load_config(args, extra=()):
    from nmt.config import load_config

    overrides = list(args.overrides)
    if args.data_dir is not None:
        overrides.append(f"data.dir={args.data_dir}")
    overrides += extra
    config_path = args.config
    if config_path is None and args.run_dir is not None and (args.run_dir / "config.yaml").is_file():
        config_path = args.run_dir / "config.yaml"
    if config_path is None:
        raise NmtError("no config: pass --config FILE (or --run-dir of an existing run)")
    cfg = load_config(config_path, overrides)
    return cfg, args.run_dir or Path("runs") / cfg.name


def cmd_fetch(args):
    from nmt.data.hub import fetch

    fetch(args.name, args.out, args.hf_config, args.src, args.tgt, log=lambda m: print(m, file=sys.stderr))


def cmd_preprocess(args):
    from nmt.data.preprocess import preprocess

    cfg, run_dir = _load_config(args)
    if args.workers < 0:
        raise NmtError(f"--workers must be at least 1 (or 0: one per core), got {args.workers}")
    preprocess(cfg, run_dir, log=lambda m: print(m, file=sys.stderr), workers=args.workers)
    print(f"preprocessed into {run_dir}", file=sys.stderr)


def cmd_train(args):
    from nmt.evaluate import VALIDATION_METRICS
    from nmt.train.loop import train

    cfg, run_dir = _load_config(args, [f"train.limits.max_time={args.max_time}"] if args.max_time is not None else [])
    best = train(cfg, run_dir, resume=args.resume)
    metric = VALIDATION_METRICS[cfg.train.validation.metric]
    print(f"best dev {metric} {best:.2f}; model in {run_dir / 'best'}", file=sys.stderr)


def read_input_lines(source):
    """Input lines for translation, read lazily from a binary stream: split on newlines only (never
    on other Unicode breaks), undecodable bytes replaced, so output line i always answers input line i."""
    for raw in source:  # binary streams split at b"\n" only, which no multi-byte UTF-8 character contains
        yield raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")


def _open_input(path):
    if path is None:
        return sys.stdin.buffer
    if not path.exists():
        raise NmtError(f"{path}: file not found")
    if path.is_dir():
        raise NmtError(f"{path}: is a directory, not a file")
    return open(path, "rb")


# the numeric flags of translate and serve that are not decode settings (each command has some of them)
_AT_LEAST = {"chunk_lines": 1, "max_lines": 1, "max_chars": 1, "max_queued": 1}
_NOT_NEGATIVE = ("max_wait_ms", "workers")


def _decoder_options(args):
    """The decode settings given on the command line (None: the model's)."""
    from nmt.decode.options import DecodeConfig

    return {name: getattr(args, name) for name in DecodeConfig.model_fields if hasattr(args, name)}


def _check_decoder_flags(args):
    """Refuse impossible settings before the slow model load, each in one line naming its flag."""
    from nmt.decode.options import check_options, flag

    check_options(_decoder_options(args), name=flag)
    for name, minimum in _AT_LEAST.items():
        if getattr(args, name, None) is not None and getattr(args, name) < minimum:
            raise NmtError(f"--{name.replace('_', '-')} must be at least {minimum}")
    for name in _NOT_NEGATIVE:
        if getattr(args, name, None) is not None and getattr(args, name) < 0:
            raise NmtError(f"--{name.replace('_', '-')} must be >= 0")
    if args.quantize and args.dtype != "fp32":
        raise NmtError(f"--quantize {args.quantize} converts fp32 weights: leave out --dtype {args.dtype}")


def _check_translate_flags(args):
    _check_decoder_flags(args)
    if args.output is not None and args.output.is_dir():
        raise NmtError(f"--output {args.output}: is a directory, not a file")


def _make_translator(args, device):
    from nmt.decode.load import load_for_decoding
    from nmt.decode.options import flag, with_options
    from nmt.decode.translate import Translator

    model, tokenizers, decode_cfg = load_for_decoding(args.model, device, args.dtype, args.quantize)
    options = dict(_decoder_options(args), n_best=args.n_best or 1)  # one translation a line unless asked
    return Translator(model, tokenizers, device, with_options(decode_cfg, options, name=flag))


def _format(nbest, with_scores):
    if with_scores:
        return "\t".join(f"{t.text}\t{t.score:.4f}" for t in nbest) + "\n"
    return nbest[0].text + "\n"


@contextlib.contextmanager
def _progress(path):
    """progress(n) for translating the lines of `path` (None: stdin): a tqdm bar with ETA on an interactive
    terminal (stderr), counting the file's lines for its total; a no-op elsewhere."""
    if not sys.stderr.isatty():
        yield lambda sentences: None
        return
    from tqdm import tqdm

    total = None
    if path is not None and Path(path).is_file():
        with open(path, "rb") as f:
            total = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    with tqdm(total=total, unit="sent", dynamic_ncols=True, file=sys.stderr) as bar:
        yield bar.update


def cmd_translate(args):
    _check_translate_flags(args)
    source = _open_input(args.input)  # a missing input fails before the slow model load
    from nmt.device import pick_device  # torch: imported once the options are known to be valid

    device = pick_device(args.device)
    translator = _make_translator(args, device)
    with _progress(args.input) as progress:
        results = translator.translate_stream(read_input_lines(source), args.chunk_lines, progress)
        lines = (_format(nbest, args.n_best is not None) for nbest in results)
        if args.output is None:
            sys.stdout.writelines(lines)
        else:
            from nmt import atomic
            atomic.write_lines(args.output, lines)
    if translator.truncated:
        print(f"warning: {translator.truncated} input lines were longer than the model's "
              f"{translator.max_source_tokens} source tokens and were truncated", file=sys.stderr)


def cmd_serve(args):
    _check_decoder_flags(args)
    from nmt.device import pick_device
    from nmt.serve.limits import Limits
    from nmt.serve.server import serve

    limits = Limits(args.max_lines, args.max_chars, args.max_queued, args.max_wait_ms, args.workers)
    serve(args.model, pick_device(args.device), _decoder_options(args), limits, args.host, args.port, args.dtype,
          args.quantize, args.access_log)


def cmd_export(args):
    from nmt.export_ctranslate2 import export_ctranslate2  # the only --format so far

    export_ctranslate2(args.model, args.out, force=args.force)
    print(f"CTranslate2 model written to {args.out}", file=sys.stderr)


def cmd_evaluate(args):
    from nmt.data.corpus import read_lines
    from nmt.evaluate import format_scores, score_corpus

    hyps, refs = read_lines(args.hyp), read_lines(args.ref)
    if len(hyps) != len(refs):
        raise NmtError(f"{args.hyp} has {len(hyps)} lines but {args.ref} has {len(refs)}")
    scores = score_corpus(hyps, refs, args.metrics)
    print(json.dumps(scores, indent=2) if args.json else format_scores(scores))


def cmd_average(args):
    from nmt.train.average import average_run

    if (args.last or args.best) < 1:
        raise NmtError("--last/--best must be at least 1")
    out = args.out or args.run_dir / "averaged"
    steps = average_run(args.run_dir, out, last=args.last, best=args.best)
    print(f"averaged the checkpoints of steps {', '.join(map(str, steps))} into {out}", file=sys.stderr)


def cmd_plot(args):
    from nmt.plot import plot_runs

    plot_runs(args.runs, args.out)
    print(f"{len(args.runs)} run(s) drawn in {args.out}", file=sys.stderr)


def _sweep(args, **settings):
    from nmt.sweep.grid import Sweep

    return Sweep.of(args.command, args.out, args.data_dir, args.max_time, args.overrides, args.jobs, **settings)


def cmd_tune_vocab(args):
    from nmt.config import load_config
    from nmt.sweep.grid import parse_sizes
    from nmt.sweep.tune_vocab import parse_kinds, tune_vocab

    sizes = parse_sizes(args.sizes, "--sizes")
    kinds = parse_kinds(args.kinds) if args.kinds else [load_config(args.config, args.overrides).tokenizer.type]
    sweep = _sweep(args, config=str(args.config.resolve()))
    best = tune_vocab(args.config.resolve(), kinds, sizes, sweep, log=lambda m: print(m, file=sys.stderr))
    print(f"best: {best['kind']} {best['size']} (dev BLEU {best['dev_bleu']:.2f}); table, plot and "
          f"best.yaml in {args.out}", file=sys.stderr)


def cmd_curve(args):
    from nmt.sweep.curve import learning_curve
    from nmt.sweep.grid import parse_sizes, seed_range

    words = parse_sizes(args.words, "--words", allow_all=True)
    seeds = seed_range(args.seeds)
    sweep = _sweep(args, configs=[str(c.resolve()) for c in args.configs], test_split=args.test_split)  # seeds may grow
    learning_curve([c.resolve() for c in args.configs], words, seeds, sweep, log=lambda m: print(m, file=sys.stderr))
    print(f"table and plot in {args.out}", file=sys.stderr)


def cmd_ablate(args):
    from nmt.sweep.ablate import ablate, parse_toggles
    from nmt.sweep.grid import seed_range

    seeds = seed_range(args.seeds)
    arms = parse_toggles(args.config, args.overrides, args.toggles)
    sweep = _sweep(args, config=str(args.config.resolve()), test_split=args.test_split)  # arms and seeds may grow
    ablate(args.config.resolve(), arms, seeds, sweep, log=lambda m: print(m, file=sys.stderr))
    print(f"table in {args.out / 'ablation.md'}", file=sys.stderr)


def cmd_sweep(args):
    from nmt.sweep.study import (default_storage, open_study, read_space, run_side_by_side, run_trials,
                                 study_settings, write_report)

    if args.trials < 1:
        raise NmtError("--trials must be at least 1")
    sweep, config = _sweep(args), args.config.resolve()
    dimensions = read_space(args.space, args.config, args.overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    storage = args.storage or default_storage(args.out)
    settings = study_settings(dimensions, args.config, args.overrides, args.max_time)
    study = open_study(storage, settings)
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    if sweep.jobs > 1:
        run_side_by_side(sweep.jobs, storage, settings, dimensions, args.trials, config, sweep, log)
    else:
        run_trials(study, dimensions, args.trials, config, sweep, log=log)
    rows = write_report(study, dimensions, args.out)
    best = next((row for row in rows if row.get("dev_bleu") is not None), None)
    print(f"{len(rows)} trials" + (f"; best: trial {best['trial']}, dev BLEU {best['dev_bleu']:.2f}" if best else "")
          + f"; table and importance plot in {args.out}", file=sys.stderr)


def cmd_distill(args):
    from nmt.synthetic import distill

    translator, languages = _synthetic_corpus_writer(args)
    with _progress(args.data_dir / f"{args.split}.{languages[0]}") as progress:
        pairs = distill(translator, languages, args.data_dir, args.out, args.split, args.chunk_lines, progress)
    print(f"{pairs:,} pairs distilled into {args.out}", file=sys.stderr)


def cmd_backtranslate(args):
    from nmt.synthetic import backtranslate

    translator, languages = _synthetic_corpus_writer(args)
    with _progress(args.mono) as progress:
        pairs = backtranslate(translator, languages, args.mono, args.out, args.split, args.chunk_lines, progress)
    print(f"{pairs:,} back-translated pairs in {args.out}; mix them in with data.extra", file=sys.stderr)


def _synthetic_corpus_writer(args):
    """(translator, (source, target) languages of the model) for distill and backtranslate."""
    _check_decoder_flags(args)
    from nmt.device import pick_device  # torch: imported once the options are known to be valid
    from nmt.synthetic import languages_of

    languages = languages_of(args.model[0], args.src_lang, args.tgt_lang)
    translator = _make_translator(args, pick_device(args.device))
    return translator, languages


def cmd_config(args):
    from nmt.config import ExperimentConfig, load_config, read_yaml, upgrade, validate
    from nmt.schema import describe, dump_yaml

    if args.show:
        print("\n".join(describe(ExperimentConfig)))
    elif args.upgrade is not None:
        print(dump_yaml(validate(upgrade(read_yaml(args.upgrade)), where=lambda key: args.upgrade)), end="")
    elif args.config is not None:
        print(dump_yaml(load_config(args.config, args.overrides)), end="")
    else:
        raise NmtError("say what to do: --show, --config FILE or --upgrade FILE")


def cmd_quickstart(args):
    from nmt.quickstart import quickstart

    quickstart(args.run_dir, args.max_time)


COMMANDS = {"fetch": cmd_fetch, "preprocess": cmd_preprocess, "train": cmd_train, "translate": cmd_translate,
            "serve": cmd_serve, "export": cmd_export, "evaluate": cmd_evaluate, "average": cmd_average, "plot": cmd_plot,
            "tune-vocab": cmd_tune_vocab, "curve": cmd_curve, "ablate": cmd_ablate, "sweep": cmd_sweep, "distill": cmd_distill,
            "backtranslate": cmd_backtranslate, "config": cmd_config, "quickstart": cmd_quickstart}


def main(argv=None):
    return run_command(build_parser().parse_args(argv))


def run_command(args):
    """Run the parsed command; returns the exit status (errors as one line, not a traceback)."""
    try:
        COMMANDS[args.command](args)
    except (NmtError, OSError) as e:  # OSError: the file system refused (permissions, disk full, ...)
        if getattr(args, "debug", False):
            raise
        print(f"nmt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nmt {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def run():
    """The `nmt` command and `python -m nmt`: a command that trains first restarts under tcmalloc where the
    system has it (nmt/allocator.py). `main()`, called from Python, always runs in the calling process."""
    args = build_parser().parse_args()
    restart_with_tcmalloc(args.command, sys.argv[1:])
    sys.exit(run_command(args))


if __name__ == "__main__":
    sys.exit(main())
