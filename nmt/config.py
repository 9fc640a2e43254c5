"""Every option of an experiment, with its default, in one place.

A YAML file and `--set section.key=value` overrides are merged onto these dataclasses;
an unknown key or a value of the wrong type is an NmtError that names the key.
Builders receive only their own section (`build_model(cfg.model, ...)`).
"""
import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nmt.errors import NmtError


@dataclass(frozen=True)
class DataConfig:
    dir: str = ""                 # folder of {split}.{lang} files
    hf_dataset: str = ""          # or a Hugging Face dataset: hub name or a save_to_disk folder
    hf_config: str = ""           # the dataset's configuration name (e.g. "de-en"), if it has several
    src_lang: str = "de"
    tgt_lang: str = "en"
    train_split: str = "train"
    valid_split: str = "val"
    max_words: int = 100          # training pairs with a longer side (in words) are dropped
    max_length_ratio: float = 3.0  # ... and pairs whose word-count ratio exceeds this
    valid_size: int = 0           # validate on the first N dev sentences (0 = all)

    def __post_init__(self):
        _check(self.max_words > 0, "data.max_words must be positive")
        _check(self.max_length_ratio >= 1.0, "data.max_length_ratio must be at least 1")
        _check(self.valid_size >= 0, "data.valid_size must be 0 (all) or positive")
        _check(self.src_lang != self.tgt_lang, "data.src_lang and data.tgt_lang must differ")


@dataclass(frozen=True)
class TokenizerConfig:
    type: str = "bpe"             # sentencepiece model type: bpe | unigram | char | word
    vocab_size: int = 8000        # per model (the joint model's size when joint)
    joint: bool = True            # one model and vocabulary for both languages
    character_coverage: float = 1.0

    def __post_init__(self):
        _check(self.type in ("bpe", "unigram", "char", "word"),
               f"tokenizer.type must be bpe, unigram, char or word, not {self.type!r}")
        # 4 special symbols + 256 byte-fallback pieces must fit with room for real pieces
        _check(self.vocab_size >= 300, f"tokenizer.vocab_size must be at least 300, not {self.vocab_size} "
               "(4 special symbols and 256 byte-fallback pieces are part of it)")
        _check(0 < self.character_coverage <= 1, "tokenizer.character_coverage must be in (0, 1]")


@dataclass(frozen=True)
class ModelConfig:
    type: str = "transformer"
    d_model: int = 512
    heads: int = 8
    encoder_layers: int = 6
    decoder_layers: int = 6
    ff_size: int = 2048
    dropout: float = 0.1
    attention_dropout: float = 0.0
    norm: str = "pre"             # pre | post (layer normalisation before or after each block)
    tie_output: bool = True       # decoder input embedding = output projection
    tie_source: bool = True       # with a joint vocabulary, the encoder shares it too (three-way)
    max_positions: int = 1024
    reverse_source: bool = False  # both types: read the source backwards (Sutskever et al. 2014), EOS stays last
    # model.type: rnn (BiLSTM encoder, attentional LSTM decoder); `dropout` above is its hidden dropout
    embedding_dim: int = 512
    rnn_hidden: int = 512         # decoder size; each encoder direction has half, so their concatenation matches
    rnn_encoder_layers: int = 1
    rnn_decoder_layers: int = 1
    attention: str = "additive"   # additive (Bahdanau) | dot | general (Luong)
    input_feeding: bool = True    # feed the previous attentional vector to the decoder (Luong et al. 2015)
    residual: bool = False        # residual connections between stacked LSTM layers
    layer_norm: bool = False      # on every LSTM layer's output and on the attentional vector
    emb_dropout: float = 0.1      # on source and target embeddings
    word_dropout: float = 0.0     # replace a whole source/target input token by UNK (training only)
    init: str = "xavier"          # xavier | uniform (+-0.1) | normal (std 0.01): non-recurrent weights

    def __post_init__(self):
        _check(self.type in ("transformer", "rnn"), f"model.type must be transformer or rnn, not {self.type!r}")
        _check(self.norm in ("pre", "post"), f"model.norm must be pre or post, not {self.norm!r}")
        _check(self.d_model > 0 and self.heads > 0 and self.d_model % self.heads == 0,
               "model.d_model must be a positive multiple of model.heads")
        _check(self.encoder_layers > 0 and self.decoder_layers > 0, "model layers must be positive")
        _check(0 <= self.dropout < 1, f"model.dropout must be in [0, 1), not {self.dropout}")
        _check(0 <= self.attention_dropout < 1,
               f"model.attention_dropout must be in [0, 1), not {self.attention_dropout}")
        self._check_rnn()

    def _check_rnn(self):
        _check(self.embedding_dim > 0, "model.embedding_dim must be positive")
        _check(self.rnn_hidden > 0 and self.rnn_hidden % 2 == 0,
               f"model.rnn_hidden must be a positive even number (two encoder directions), not {self.rnn_hidden}")
        _check(self.rnn_encoder_layers > 0 and self.rnn_decoder_layers > 0, "model rnn layers must be positive")
        _check(self.attention in ("additive", "dot", "general"),
               f"model.attention must be additive, dot or general, not {self.attention!r}")
        _check(self.init in ("xavier", "uniform", "normal"),
               f"model.init must be xavier, uniform or normal, not {self.init!r}")
        for key in ("emb_dropout", "word_dropout"):
            value = getattr(self, key)
            _check(0 <= value < 1, f"model.{key} must be in [0, 1), not {value}")


@dataclass(frozen=True)
class ScheduledSamplingConfig:
    """`train.scheduled_sampling` (Bengio et al. 2015): feed the decoder its own predictions, with a probability
    of the gold token that decays with the update step i (formulas in nmt/train/schedules.py)."""
    enabled: bool = False
    schedule: str = "inverse_sigmoid"  # linear | exponential | inverse_sigmoid
    k: float = 2000.0             # inverse_sigmoid: k >= 1 (p = 0.5 at i = k ln k); exponential: k**i, 0 < k < 1;
                                  # linear: the intercept, 0 < k <= 1
    c: float = 1e-4               # linear: slope, p = max(min_gold, k - c * i)
    min_gold: float = 0.0         # linear: floor of the gold probability
    mode: str = "auto"            # per_step | two_pass (Mihaylova & Martins 2019) | auto: per_step for rnn,
                                  # two_pass for transformer
    pick: str = "sample"          # sample (from the model's distribution, as Bengio et al.) | argmax

    def __post_init__(self):
        key = "train.scheduled_sampling"
        _check(self.schedule in ("linear", "exponential", "inverse_sigmoid"),
               f"{key}.schedule must be linear, exponential or inverse_sigmoid, not {self.schedule!r}")
        _check(self.mode in ("auto", "per_step", "two_pass"),
               f"{key}.mode must be auto, per_step or two_pass, not {self.mode!r}")
        _check(self.pick in ("sample", "argmax"), f"{key}.pick must be sample or argmax, not {self.pick!r}")
        ranges = {"linear": (0 < self.k <= 1, "in (0, 1]"), "exponential": (0 < self.k < 1, "in (0, 1)"),
                  "inverse_sigmoid": (self.k >= 1, "at least 1")}
        ok, allowed = ranges[self.schedule]
        _check(ok, f"{key}.k must be {allowed} for schedule {self.schedule}, not {self.k} "
               "(each schedule has its own range: set k together with the schedule)")
        _check(self.c >= 0, f"{key}.c (the linear slope) must be >= 0, not {self.c}")
        _check(0 <= self.min_gold <= 1, f"{key}.min_gold must be in [0, 1], not {self.min_gold}")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 42
    device: str = "auto"          # auto | cpu | cuda | cuda:N
    threads: int = 0              # CPU threads for torch (0 = all cores)
    precision: str = "fp32"       # fp32 | bf16 (autocast: bf16 matmuls, fp32 weights and loss)
    batch_tokens: int = 4096      # token budget of a batch: sentences x longest side, padding included
    optimizer: str = "adam"       # adam | sgd (with momentum, Ma & Hovy 2016) | adadelta (Bahdanau et al. 2014)
    lr: float = 5e-4              # peak learning rate, reached at the end of warmup; adadelta expects ~1.0
    warmup_steps: int = 4000      # linear warmup (either schedule); 0 = none
    lr_schedule: str = "inverse_sqrt"  # inverse_sqrt (constant when warmup_steps is 0) | plateau (decay on dev BLEU)
    decay_factor: float = 0.5     # plateau: the lr is multiplied by this ...
    decay_patience: int = 2       # ... after this many validations without a BLEU gain
    min_lr: float = 1e-6          # plateau: the lr never decays below this
    adam_betas: typing.Tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-9
    momentum: float = 0.9         # sgd
    adadelta_rho: float = 0.95    # adadelta: decay of the running averages (Zeiler 2012; Bahdanau et al. 2014)
    adadelta_eps: float = 1e-6
    weight_decay: float = 0.0     # every optimizer
    label_smoothing: float = 0.1
    clip_norm: float = 1.0        # 0 disables gradient-norm clipping
    max_steps: int = 0            # 0 = no limit
    max_epochs: int = 0           # 0 = no limit
    max_time: float = 0.0         # wall-clock budget in seconds (0 = no limit)
    valid_every: int = 1000       # steps between validations (and checkpoints)
    patience: int = 10            # validations without a BLEU gain before stopping (0 = never stop)
    log_every: int = 50
    scheduled_sampling: ScheduledSamplingConfig = field(default_factory=ScheduledSamplingConfig)

    def __post_init__(self):
        _check(self.precision in ("fp32", "bf16"), f"train.precision must be fp32 or bf16, not {self.precision!r}")
        _check(self.batch_tokens > 0, "train.batch_tokens must be positive")
        _check(self.lr > 0, "train.lr must be positive")
        _check(self.warmup_steps >= 0, "train.warmup_steps must be >= 0")
        _check(0 <= self.label_smoothing < 1, "train.label_smoothing must be in [0, 1)")
        _check(self.clip_norm >= 0, "train.clip_norm must be >= 0")
        _check(self.valid_every > 0 and self.log_every > 0, "train.valid_every and train.log_every must be positive")
        _check(min(self.max_steps, self.max_epochs, self.max_time, self.patience, self.threads) >= 0,
               "train limits (max_steps, max_epochs, max_time, patience, threads) must be >= 0")
        _check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
               f"train.device must be auto, cpu or cuda[:N], not {self.device!r}")
        self._check_optimizer()

    def _check_optimizer(self):
        _check(self.optimizer in ("adam", "sgd", "adadelta"),
               f"train.optimizer must be adam, sgd or adadelta, not {self.optimizer!r}")
        _check(0 <= self.momentum < 1, f"train.momentum must be in [0, 1), not {self.momentum}")
        _check(0 < self.adadelta_rho < 1, f"train.adadelta_rho must be in (0, 1), not {self.adadelta_rho}")
        _check(self.adadelta_eps > 0, "train.adadelta_eps must be positive")
        _check(self.lr_schedule in ("inverse_sqrt", "plateau"),
               f"train.lr_schedule must be inverse_sqrt or plateau, not {self.lr_schedule!r}")
        _check(0 < self.decay_factor < 1, f"train.decay_factor must be in (0, 1), not {self.decay_factor}")
        _check(self.decay_patience >= 1, f"train.decay_patience must be at least 1, not {self.decay_patience}")
        _check(self.min_lr >= 0, f"train.min_lr must be >= 0, not {self.min_lr}")
        _check(self.lr_schedule != "plateau" or self.min_lr <= self.lr,
               f"train.min_lr ({self.min_lr}) must not exceed train.lr ({self.lr}) with lr_schedule plateau")


@dataclass(frozen=True)
class DecodeConfig:
    beam: int = 5                 # 1 = greedy
    lenpen: float = 1.0           # length penalty alpha (Wu et al. 2016); 0 = none
    max_len_a: float = 1.5        # output length limit: a * source length + b tokens
    max_len_b: int = 10
    batch_size: int = 64          # sentences per decoding batch
    n_best: int = 1
    valid_beam: int = 1           # beam used for validation during training (1 = greedy, fast)

    def __post_init__(self):
        _check(self.beam >= 1 and self.valid_beam >= 1, "decode.beam must be at least 1")
        _check(1 <= self.n_best <= self.beam, "decode.n_best must be between 1 and decode.beam")
        _check(self.lenpen >= 0, "decode.lenpen must be >= 0")
        _check(self.batch_size >= 1, "decode.batch_size must be at least 1")
        _check(self.max_len_a >= 0 and self.max_len_b >= 1, "decode max length must allow a token")


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)


def _check(ok, message):
    if not ok:
        raise NmtError(message)


def load_config(path=None, overrides=()):
    """Read a YAML config (or start from defaults), apply `key=value` overrides, validate."""
    raw = {}
    if path is not None:
        raw = _read_yaml(Path(path))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise NmtError(f"--set {item!r}: expected section.key=value")
        _set_dotted(raw, key.strip(), yaml.safe_load(value))
    return from_dict(raw)


def _read_yaml(path):
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


def _set_dotted(raw, key, value):
    *sections, leaf = key.split(".")
    node = raw
    for s in sections:
        node = node.setdefault(s, {})
        if not isinstance(node, dict):
            raise NmtError(f"--set {key}: {s} is not a section")
    node[leaf] = value


def from_dict(raw, cls=ExperimentConfig, prefix=""):
    """Build a (nested) config dataclass from plain data, checking every key and type."""
    if not isinstance(raw, dict):
        raise NmtError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise NmtError(f"unknown config key {prefix}{key}{hint}")
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            kwargs[key] = from_dict(value if value is not None else {}, kind, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(value, kind, f"{prefix}{key}")
    return cls(**kwargs)


def _coerce(value, kind, key):
    """Return `value` as type `kind`, or raise an NmtError naming `key`."""
    ok = False
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        if isinstance(value, str):  # PyYAML reads 5e-4 (no dot) as a string
            value = _parse_float(value)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is str:
        ok = isinstance(value, str)
    elif typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        ok = isinstance(value, (list, tuple)) and len(value) == len(args)
        if ok:
            return tuple(_coerce(v, a, key) for v, a in zip(value, args))
    if not ok:
        name = getattr(kind, "__name__", str(kind))
        raise NmtError(f"config key {key}: expected {name}, got {value!r}")
    return value


def _parse_float(text):
    try:
        return float(text)
    except ValueError:
        return text


def to_dict(cfg):
    """Plain nested dict of a config (tuples as lists), for YAML/JSON."""
    return yaml.safe_load(yaml.safe_dump(_plain(dataclasses.asdict(cfg))))


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def dump_yaml(cfg):
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
