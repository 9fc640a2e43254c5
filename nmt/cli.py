"""The `nmt` command: argument parsing only; each subcommand calls one function of the modules.

A problem with the user's input is one line on stderr and exit code 2; `--debug` shows the traceback.
"""
import argparse
import json
import sys
from pathlib import Path

from nmt.errors import NmtError


def _config_args(parser):
    parser.add_argument("--config", type=Path, help="experiment YAML (default: the run directory's config.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config key (repeatable), e.g. --set train.optimizer.lr=5e-4")
    parser.add_argument("--data-dir", type=Path, help="folder of {split}.{lang} files (sets data.dir)")
    parser.add_argument("--run-dir", type=Path, help="run directory (default: runs/NAME)")


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own (absent) --debug must not reset `nmt --debug COMMAND`; main() defaults it
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    parser = argparse.ArgumentParser(prog="nmt", parents=[common],
                                     description="Neural machine translation: preprocess, train, translate, evaluate.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("preprocess", parents=[common], help="clean the corpus, learn subwords, encode it")
    _config_args(p)
    p = sub.add_parser("train", parents=[common], help="train a model, validate on dev BLEU, export the best")
    _config_args(p)
    p.add_argument("--max-time", type=float, metavar="SECONDS",
                   help="wall-clock training budget (sets train.limits.max_time)")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoints/last.pt")

    p = sub.add_parser("translate", parents=[common], help="translate text with an exported model")
    p.add_argument("--model", type=Path, required=True, help="exported model directory (a run's best/)")
    p.add_argument("--beam", type=int, help="beam size (1 = greedy); default: the model's")
    p.add_argument("--lenpen", type=float, help="length penalty alpha; default: the model's")
    p.add_argument("--n-best", type=int, help="print the N best translations, tab-separated with scores")
    p.add_argument("--batch-size", type=int, help="sentences per batch")
    p.add_argument("--input", type=Path, help="input file (default: stdin)")
    p.add_argument("--output", type=Path, help="output file (default: stdout)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")

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
    which.add_argument("--best", type=int, metavar="N", help="the N kept checkpoints with the best dev BLEU")
    p.add_argument("--out", type=Path, help="model directory to write (default: RUN/averaged)")

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


def cmd_preprocess(args):
    from nmt.data.preprocess import preprocess

    cfg, run_dir = _load_config(args)
    preprocess(cfg, run_dir, log=lambda m: print(m, file=sys.stderr))
    print(f"preprocessed into {run_dir}", file=sys.stderr)


def cmd_train(args):
    from nmt.train.loop import train

    cfg, run_dir = _load_config(args, [f"train.limits.max_time={args.max_time}"] if args.max_time is not None else [])
    best = train(cfg, run_dir, resume=args.resume)
    print(f"best dev BLEU {best:.2f}; model in {run_dir / 'best'}", file=sys.stderr)


def read_input_lines(path):
    """Input lines for translation: split on newlines only (never on other Unicode breaks),
    undecodable bytes replaced, so output line i always answers input line i."""
    data = sys.stdin.buffer.read() if path is None else _read_file_bytes(path)
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _read_file_bytes(path):
    if not path.exists():
        raise NmtError(f"{path}: file not found")
    if path.is_dir():
        raise NmtError(f"{path}: is a directory, not a file")
    return path.read_bytes()


def cmd_translate(args):
    if args.beam is not None and args.beam < 1:
        raise NmtError("--beam must be at least 1")
    if args.n_best is not None and not 1 <= args.n_best <= (args.beam or args.n_best):
        raise NmtError("--n-best must be between 1 and --beam")
    if args.batch_size is not None and args.batch_size < 1:
        raise NmtError("--batch-size must be at least 1")
    if args.lenpen is not None and args.lenpen < 0:
        raise NmtError("--lenpen must be >= 0")
    if args.output is not None and args.output.is_dir():
        raise NmtError(f"--output {args.output}: is a directory, not a file")
    source = read_input_lines(args.input)  # a missing input fails before the slow model load
    from nmt.decode.translate import Translator  # torch: imported once the options are known to be valid
    from nmt.device import pick_device
    from nmt.export import load_model

    device = pick_device(args.device)
    model, tokenizers, decode_cfg = load_model(args.model, device)
    translator = Translator.from_config(model, tokenizers, device, decode_cfg, beam=args.beam, lenpen=args.lenpen,
                                        n_best=args.n_best or 1, batch_size=args.batch_size)
    results = translator.translate_nbest(source)
    if args.n_best:
        lines = ["\t".join(f"{t.text}\t{t.score:.4f}" for t in nbest) for nbest in results]
    else:
        lines = [nbest[0].text for nbest in results]
    text = "".join(line + "\n" for line in lines)
    if args.output is None:
        sys.stdout.write(text)
    else:
        from nmt import atomic
        atomic.write_text(args.output, text)
    if translator.truncated:
        print(f"warning: {translator.truncated} input lines were longer than the model's "
              f"{translator.max_source_tokens} source tokens and were truncated", file=sys.stderr)


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


def cmd_config(args):
    from nmt.config import ExperimentConfig, dump_yaml, load_config, read_yaml, upgrade, validate
    from nmt.schema import describe

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


COMMANDS = {"preprocess": cmd_preprocess, "train": cmd_train, "translate": cmd_translate, "export": cmd_export,
            "evaluate": cmd_evaluate, "average": cmd_average, "config": cmd_config, "quickstart": cmd_quickstart}


def main(argv=None):
    args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
