"""Every option of an experiment: its type, default, allowed range and one-line help.

The schema is pydantic models (nmt/schema.py). Sections that come in kinds live beside the code
that builds them, so the config accepts exactly what the code can build: model families in
nmt/models/build.py, optimizers in nmt/train/optimizers.py, LR schedules in nmt/train/schedules.py,
scheduled-sampling schedules in nmt/train/scheduled_sampling.py; the decode section lives in
nmt/decode/options.py, whose fields are also translate's and serve's flags. `load_config` merges a
YAML file and `--set section.key=value` overrides; its errors are one line naming the key.
"""
import copy
import typing
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from nmt.decode.options import DecodeConfig
from nmt.errors import NmtError
from nmt.evaluate import VALIDATION_METRICS
from nmt.kernels import KINDS as KERNEL_KINDS
from nmt.models.build import ModelConfig, TransformerConfig
from nmt.schema import Float, Probability, Section, choice, explain, kinds_at, kinds_of, section_class, to_dict
from nmt.tokenize.build import KINDS
from nmt.tokenize.sentencepiece import SentencePieceTokenizer
from nmt.train.curriculum import CurriculumConfig, NoCurriculumConfig
from nmt.train.optimizers import AdamConfig, OptimizerConfig
from nmt.train.scheduled_sampling import InverseSigmoidConfig, ScheduledSamplingConfig
from nmt.train.schedules import InverseSqrtConfig, LRScheduleConfig

FORMAT = 2  # of config.yaml, checkpoints' and model directories' configs; 1 was nmt 0.1's flat layout


class ExtraCorpus(Section):
    dir: str = Field(description="folder of {train_split}.{lang} files, e.g. what nmt backtranslate or nmt "
                                 "distill wrote")
    ratio: Float = Field(1.0, gt=0, description="its share of the mix: 2 = every pair twice (upsampling), "
                                                "0.5 = a seeded half of its pairs")
    tag: str = Field("", pattern=r"^\S*$", description="a word put before each of its source sentences, e.g. "
                                                        "<BT> for back-translated text (Caswell et al. 2019)")


class DataConfig(Section):
    dir: str = Field("", description="folder of {split}.{lang} files")
    hf_dataset: str = Field("", description="or a Hugging Face dataset: multi30k or mafand (nmt knows where they "
                                            "are), a hub name or a save_to_disk folder; validation is read as val")
    hf_config: str = Field("", description="the hub dataset's configuration name (e.g. de-en), if it has several "
                                           "(multi30k and mafand choose theirs from the languages)")
    src_lang: str = Field("de", description="source language code, the files' suffix")
    tgt_lang: str = Field("en", description="target language code")
    train_split: str = Field("train", description="split to train on")
    valid_split: str = Field("val", description="split to validate on")
    max_words: int = Field(100, gt=0, description="training pairs with a longer side (in words) are dropped")
    max_length_ratio: Float = Field(3.0, ge=1, description="... and pairs whose word-count ratio exceeds this")
    skip_invalid: bool = Field(False, description="drop pairs with a line that is not valid UTF-8 (counted) "
                                                  "instead of stopping with an error")
    train_words: int = Field(0, ge=0, description="train on a random subset of the cleaned training pairs with this "
                                                  "many source words (within one sentence); 0 = all")
    subsample_seed: int = Field(0, description="seeds which pairs data.train_words keeps (with one seed, a smaller "
                                               "subset is part of a larger one)")
    extra: typing.List[ExtraCorpus] = Field([], description="more training corpora, mixed into the training "
                                                             "split before cleaning: [{dir, ratio, tag}]")

    @model_validator(mode="after")
    def _two_languages(self):
        if self.src_lang == self.tgt_lang:
            raise ValueError(f"data.src_lang and data.tgt_lang must differ (both {self.src_lang!r})")
        return self


class TokenizerConfig(Section):
    type: choice(KINDS) = Field("bpe", description="bpe | unigram | char | word (sentencepiece) | wordpiece")
    vocab_size: int = Field(8000, gt=0, description="per model (the joint model's when joint), special symbols "
                                                     "included; bpe, unigram, char, word: at least 300")
    joint: bool = Field(True, description="one model and vocabulary for both languages")
    character_coverage: Float = Field(1.0, gt=0, le=1, description="share of characters the model covers "
                                                                   "(sentencepiece kinds)")
    max_sentences: int = Field(1_000_000, gt=0, description="train the tokenizer on a seeded sample of at most "
                                                            "this many sentences (per model)")
    sampling: Float = Field(0.0, ge=0, description="subword regularisation: training text re-segmented each "
                                                   "epoch; bpe: dropout rate in (0, 1), unigram: smoothing alpha; "
                                                   "0 = off")

    @model_validator(mode="after")
    def _kind_rules(self):
        kind = KINDS[self.type]
        if self.vocab_size < kind.min_vocab_size:
            raise ValueError(f"config key tokenizer.vocab_size: must be at least {kind.min_vocab_size} for type "
                             f"{self.type} ({kind.min_vocab_reason}), got {self.vocab_size}")
        if self.character_coverage != 1.0 and self.type not in SentencePieceTokenizer.model_types:
            raise ValueError(f"config key tokenizer.character_coverage applies to sentencepiece types, not "
                             f"{self.type} (which keeps every character)")
        if self.sampling and self.type not in SentencePieceTokenizer.sampling_types:
            raise ValueError(f"config key tokenizer.sampling applies to types "
                             f"{' and '.join(SentencePieceTokenizer.sampling_types)}, not {self.type} "
                             f"(which segments a text one way only)")
        if self.type == "bpe" and self.sampling >= 1:
            raise ValueError(f"config key tokenizer.sampling: bpe's dropout rate must be below 1, got {self.sampling}")
        return self


class LimitsConfig(Section):
    max_steps: int = Field(0, ge=0, description="updates; 0 = no limit")
    max_epochs: int = Field(0, ge=0, description="passes over the training data; 0 = no limit")
    max_time: Float = Field(0.0, ge=0, description="wall-clock seconds (--max-time); 0 = no limit")


class ValidationConfig(Section):
    every: int = Field(1000, gt=0, description="updates between validations (and checkpoints)")
    metric: choice(VALIDATION_METRICS) = Field(
        "bleu", description="the dev score that picks best/ and that patience, min_delta, the plateau schedule and "
                            "`nmt average --best` follow: bleu | chrf (steadier where BLEU stays near 0)")
    patience: int = Field(10, ge=0, description="validations without a gain of the metric before stopping; 0 = never")
    min_delta: Float = Field(0.0, ge=0, description="a gain counts for patience only if the metric exceeds the score "
                                                    "that last counted by more than this; the best model is "
                                                    "exported on any gain")
    size: int = Field(0, ge=0, description="validate on the first N dev sentences; 0 = all")
    beam: int = Field(1, ge=1, description="beam of validation decoding (1 = greedy, fast)")


class ComputeConfig(Section):
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto | cpu | cuda | cuda:N")
    threads: int = Field(0, ge=0, description="CPU threads for torch; 0 = every core this process may run on")
    gpu_memory_share: Float = Field(0.0, ge=0, le=1, description="on a GPU, the share of its memory this run may "
                                                                 "take, so that runs side by side fit; 0 = all")
    precision: typing.Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "fp32", description="fp32 | bf16 | fp16 (autocast: half-precision matmuls and activations, fp32 weights "
                            "and loss; fp16 with loss scaling) | auto: bf16 where the GPU or CPU computes in it, "
                            "else fp16 on a GPU, fp32 on a CPU")
    kernels: choice(KERNEL_KINDS) = Field("auto", description="auto: nmt's faster kernels where they apply "
                                                              "(nmt/kernels/) | reference: PyTorch's operations only")
    loader_workers: typing.Union[typing.Literal["auto"], typing.Annotated[int, Field(ge=0)]] = Field(
        "auto", description="processes that make batches ahead of the training loop (a DataLoader's workers); "
                            "0 = made in the training process between updates; auto = 2 on a GPU, 0 on a CPU; "
                            "always 0 with tokenizer.sampling, whose epochs are segmented in the training process")
    pass_tokens: int = Field(0, ge=0, description="run each batch's forward and backward in parts of at most N "
                                                  "padded tokens: the same update with a lower memory peak; "
                                                  "0 = the whole batch at once")


class TrainConfig(Section):
    seed: int = Field(42, description="seeds weights, batch order and sampling")
    batch_tokens: int = Field(4096, gt=0, description="token budget of a batch: sentences x longest side")
    accumulate: int = Field(1, ge=1, description="batches per update (gradient accumulation)")
    label_smoothing: Probability = Field(0.1, description="share of probability spread over the vocabulary")
    clip_norm: Float = Field(1.0, ge=0, description="gradient-norm clipping; 0 = off")
    log_every: int = Field(50, gt=0, description="updates between training log lines")
    max_nonfinite: int = Field(5, ge=1, description="updates in a row with a non-finite loss or gradient "
                                                    "(each skipped) before the run stops")
    keep_checkpoints: int = Field(0, ge=0, description="also keep the checkpoints of the last N validations "
                                                       "(checkpoints/stepK.pt), for nmt average")
    optimizer: OptimizerConfig = AdamConfig()
    lr_schedule: LRScheduleConfig = InverseSqrtConfig()
    limits: LimitsConfig = LimitsConfig()
    validation: ValidationConfig = ValidationConfig()
    compute: ComputeConfig = ComputeConfig()
    scheduled_sampling: ScheduledSamplingConfig = InverseSigmoidConfig()
    curriculum: CurriculumConfig = NoCurriculumConfig()

    @model_validator(mode="after")
    def _schedule_fits(self):
        floor = getattr(self.lr_schedule, "min_lr", 0.0)
        if floor > self.optimizer.lr:
            raise ValueError(f"train.lr_schedule.min_lr ({floor}) must not exceed train.optimizer.lr "
                             f"({self.optimizer.lr})")
        if getattr(self.lr_schedule, "total_steps", None) == 0 and not self.limits.max_steps:
            raise ValueError(f"train.lr_schedule.total_steps: the {self.lr_schedule.type} schedule decays over a "
                             "budget of updates; set it or train.limits.max_steps")
        return self


class ExperimentConfig(Section):
    name: str = Field("experiment", description="run name: runs/NAME unless --run-dir says otherwise")
    data: DataConfig = DataConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    model: ModelConfig = TransformerConfig()
    train: TrainConfig = TrainConfig()
    decode: DecodeConfig = DecodeConfig()


# --- reading -----------------------------------------------------------------------------------------

def load_config(path=None, overrides=()):
    """Read a YAML config (or start from defaults), apply `key=value` overrides, validate."""
    from_file = read_yaml(Path(path)) if path is not None else {}
    raw = copy.deepcopy(from_file)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise NmtError(f"--set {item!r}: expected section.key=value")
        _set_dotted(raw, key.strip(), yaml.safe_load(value))
    return validate(raw, where=lambda key: path if _has_dotted(from_file, key) else None)


def read_yaml(path):
    if not path.is_file():
        raise NmtError(f"{path}: {'is a directory, not a config file' if path.is_dir() else 'config file not found'}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f"{path}:{line + 1}" if line is not None else str(path)
        raise NmtError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise NmtError(f"{path}: a config must be a mapping of sections")
    return raw


def validate(raw, cls=ExperimentConfig, where=lambda key: None):
    """`cls` from plain data; the first problem becomes one NmtError line naming its key
    (and, where `where(key)` names one, the file it came from)."""
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        key, message = explain(errors[0], raw, cls, hint=_moved_hint)
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        source = where(key)
        raise NmtError(f"{source}: {message}{more}" if source else f"{message}{more}") from None


def _set_dotted(raw, key, value):
    *sections, leaf = key.split(".")
    node = raw
    for s in sections:
        node = node.setdefault(s, {})
        if not isinstance(node, dict):
            raise NmtError(f"--set {key}: {s} is not a section")
    node[leaf] = value


def _has_dotted(raw, key):
    for part in key.split(".") if key else ():
        if not isinstance(raw, dict) or part not in raw:
            return False
        raw = raw[part]
    return bool(key)


# --- configs of nmt 0.1 (format 1) -------------------------------------------------------------------

MOVED = {  # a key of the flat layout of nmt 0.1 -> where it lives now
    "data.valid_size": "train.validation.size",
    "decode.valid_beam": "train.validation.beam",
    "model.rnn_hidden": "model.hidden",
    "model.rnn_encoder_layers": "model.encoder_layers",
    "model.rnn_decoder_layers": "model.decoder_layers",
    "train.device": "train.compute.device",
    "train.threads": "train.compute.threads",
    "train.precision": "train.compute.precision",
    "train.optimizer": "train.optimizer.type",
    "train.lr": "train.optimizer.lr",
    "train.weight_decay": "train.optimizer.weight_decay",
    "train.adam_betas": "train.optimizer.betas",
    "train.adam_eps": "train.optimizer.eps",
    "train.momentum": "train.optimizer.momentum",
    "train.adadelta_rho": "train.optimizer.rho",
    "train.adadelta_eps": "train.optimizer.eps",
    "train.lr_schedule": "train.lr_schedule.type",
    "train.warmup_steps": "train.lr_schedule.warmup_steps",
    "train.decay_factor": "train.lr_schedule.factor",
    "train.decay_patience": "train.lr_schedule.patience",
    "train.min_lr": "train.lr_schedule.min_lr",
    "train.max_steps": "train.limits.max_steps",
    "train.max_epochs": "train.limits.max_epochs",
    "train.max_time": "train.limits.max_time",
    "train.valid_every": "train.validation.every",
    "train.patience": "train.validation.patience",
}
# nmt 0.1 prefixed some keys with the kind that used them (rnn_hidden, adam_eps): the old key naming
# that kind, per section, and where the kinds live now
PREFIXED_KINDS = {"model": ("type", "model"), "train": ("optimizer", "train.optimizer")}
UPGRADE_HINT = "`nmt config --upgrade FILE` rewrites a config of nmt 0.1"


def _moved_hint(key):
    return f" (now {MOVED[key]}; {UPGRADE_HINT})" if key in MOVED else ""


def upgrade(raw):
    """A format-1 config (nmt 0.1's flat layout, as written to config.yaml, checkpoints and model
    directories) in today's layout: keys moved per MOVED, keys another kind would have used dropped
    (they never did anything). A key that was never valid is kept, so validation still reports it."""
    old = copy.deepcopy(raw)
    new = {section: dict(values) for section, values in old.items() if isinstance(values, dict)}
    new.update({key: value for key, value in old.items() if not isinstance(value, dict)})
    for old_key, new_key in MOVED.items():
        section, name = old_key.split(".")
        if isinstance(new.get(section, {}).get(name, {}), dict):
            continue  # absent, or already a section of today's layout
        value = new[section].pop(name)
        if not _of_another_kind(old, section, name):  # the chosen kind's rnn_layers wins over layers
            _set_dotted(new, new_key, value)
    return _drop_other_kinds(new, ExperimentConfig)


def _of_another_kind(old, section, name):
    """Is `section.name` a parameter, named with its kind's prefix, of a kind that `old` did not choose?"""
    if section not in PREFIXED_KINDS:
        return False
    kind_key, path = PREFIXED_KINDS[section]
    kinds = kinds_at(path.split("."), ExperimentConfig)
    prefix, chosen = name.split("_")[0], old.get(section, {}).get(kind_key, kinds.default)
    return prefix in kinds.members and prefix != chosen


def _drop_other_kinds(raw, cls):
    for name, field in cls.model_fields.items():
        node, kinds = raw.get(name), kinds_of(field)
        if not isinstance(node, dict):
            continue
        if kinds:
            chosen = kinds.members.get(str(node.get(kinds.key, kinds.default)))
            if chosen is not None:
                others = {key for member in kinds.members.values() for key in member.model_fields}
                raw[name] = {k: v for k, v in node.items() if k in chosen.model_fields or k not in others}
        elif section_class(field):
            _drop_other_kinds(node, section_class(field))
    return raw
