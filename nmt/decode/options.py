"""The config's `decode` section, and the options one translation job may set: its fields named in
SEARCH_OPTIONS and BATCH_OPTIONS (and, for `nmt translate`, SAMPLING_OPTIONS).

`nmt translate` and `nmt serve` make their flags from these fields, and `nmt serve` its request fields,
so a name, its type and its help are written in one place, and a job's settings are checked by
validating the decode section they make. Nothing here imports torch: the command line reads it
before it knows whether a model will be loaded.
"""
import typing

from pydantic import Field, ValidationError, model_validator

from nmt.decode.penalties import LENGTH_NORMS
from nmt.errors import NmtError
from nmt.schema import Float, Section, choice


class DecodeConfig(Section):
    beam: int = Field(5, ge=1, description="beam size; 1 = greedy")
    lenpen: Float = Field(1.0, ge=0, description="length penalty alpha (exponent of length_norm); 0 = none")
    length_norm: choice(LENGTH_NORMS) = Field(
        "gnmt", description="score = log-prob / penalty: gnmt ((5+|Y|)/6)^lenpen (Wu et al.) | plain |Y|^lenpen")
    max_len_a: Float = Field(1.5, ge=0, description="output length limit: a * source length + b tokens")
    max_len_b: int = Field(10, ge=1, description="see max_len_a")
    batch_size: int = Field(64, ge=1, description="sentences per decoding batch (at most)")
    batch_tokens: int = Field(0, ge=0, description="source tokens per decoding batch (at most), padding included "
                                                   "(sentences x the longest); 0 = no limit")
    n_best: int = Field(1, ge=1, description="translations kept per sentence (at most beam)")
    min_len: int = Field(0, ge=0, description="tokens an output has at least (EOS blocked before); the cap wins")
    no_repeat_ngram: int = Field(0, ge=0, description="no n-gram of this size twice in an output; 0 = off")
    unk_penalty: Float = Field(0.0, ge=0, description="subtracted from <unk>'s log-probability at every step")
    sample: bool = Field(False, description="draw each output token at random (beam unused)")
    temperature: Float = Field(1.0, gt=0, description="sampling: < 1 sharper, > 1 flatter")
    top_k: int = Field(0, ge=0, description="sampling: draw among the k most probable tokens; 0 = all")
    top_p: Float = Field(1.0, gt=0, le=1, description="sampling: draw among the fewest tokens holding p")
    seed: int = Field(0, description="sampling: line i draws from a generator seeded by (seed, i)")

    @model_validator(mode="after")
    def _n_best_within_beam(self):
        if self.sample and self.n_best > 1:
            raise ValueError(f"decode.n_best ({self.n_best}): sampling draws one output per line")
        if self.n_best > self.beam:
            raise ValueError(f"decode.n_best ({self.n_best}) must not exceed decode.beam ({self.beam})")
        return self


SEARCH_OPTIONS = ("beam", "n_best", "lenpen", "length_norm", "min_len", "max_len_a", "max_len_b",
                  "no_repeat_ngram", "unk_penalty")
SAMPLING_OPTIONS = ("sample", "temperature", "top_k", "top_p", "seed")  # `nmt translate`'s, not a server's
BATCH_OPTIONS = ("batch_size", "batch_tokens")


def flag(name):
    """The command-line flag of a decode setting: n_best -> --n-best."""
    return "--" + name.replace("_", "-")


def add_flags(group, names):
    """One flag per decode setting in `names` (`--beam`, `--n-best`, ...; a switch for a yes/no setting),
    None when not given; its help is the field's."""
    for name in names:
        field = DecodeConfig.model_fields[name]
        if field.annotation is bool:
            group.add_argument(flag(name), action="store_const", const=True, help=field.description)
        else:
            group.add_argument(flag(name), type=type(field.default), help=field.description)


def search_fields():
    """The search options as optional pydantic fields (None: the server's setting), for a request model."""
    return {name: (typing.Optional[field.annotation], None)
            for name, field in DecodeConfig.model_fields.items() if name in SEARCH_OPTIONS}


def check_options(options, name=str):
    """Each given option (None: not given) within its field's bounds, before a model's settings are known:
    n_best is held against beam only when both are given (else the model's beam decides, later)."""
    given = {key: value for key, value in options.items() if value is not None}
    if given.get("sample") and given.get("beam", 1) > 1:
        raise NmtError(f"{name('sample')} draws one output per line: leave out {name('beam')}")
    given.setdefault("beam", max(given.get("n_best", 1), 1))  # room for n_best; its own bound is checked too
    with_options(DecodeConfig(), given, name)


def with_options(decode_cfg, options, name=str):
    """`decode_cfg` with `options` (field name -> value; None keeps the section's value), validated as a
    whole; an invalid value is an NmtError that calls the option `name(field)`."""
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return DecodeConfig.model_validate({**decode_cfg.model_dump(), **given})
    except ValidationError as e:
        error = e.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        raise NmtError(f"{name(error['loc'][0])}: {message}" if error["loc"] else message) from None
