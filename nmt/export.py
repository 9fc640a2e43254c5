"""The self-contained model directory: safetensors weights, config.json and the tokenizer.

Nothing in it is pickled, so loading a model from a stranger runs none of their code. Its
config.json is validated like a user's config and checked against the tensor shapes in the
weights file's header before the model is allocated.
"""
import json
from pathlib import Path

import safetensors
import safetensors.torch

from nmt import __version__, atomic
from nmt.config import FORMAT, ExperimentConfig, upgrade, validate
from nmt.errors import NmtError, one_line
from nmt.models import build_model
from nmt.models.build import parameter_shapes
from nmt.schema import to_dict
from nmt.tokenize import load_tokenizers
from nmt.tokenize.build import save_tokenizers

WEIGHTS, CONFIG, TOKENIZER = "model.safetensors", "config.json", "tokenizer"


def export_model(directory, model, model_cfg, decode_cfg, tokenizers, info=None):
    """Write the model directory whole, replacing any earlier one only once complete."""
    try:
        _write_model_dir(directory, model, model_cfg, decode_cfg, tokenizers, info)
    except (OSError, safetensors.SafetensorError) as e:  # a full disk, a file-size limit
        raise NmtError(f"{directory}: could not write the model ({one_line(e)}); "
                       "the previous one, if any, is kept") from None


def _write_model_dir(directory, model, model_cfg, decode_cfg, tokenizers, info):
    with atomic.atomic_dir(directory) as tmp:
        safetensors.torch.save_model(model, str(tmp / WEIGHTS))  # handles tied (shared) weights
        config = {"format": FORMAT, "nmt_version": __version__,
                  "model": to_dict(model_cfg), "decode": to_dict(decode_cfg),
                  "vocab": {"src": tokenizers.src.vocab_size, "tgt": tokenizers.tgt.vocab_size,
                            "joint": tokenizers.joint},
                  "info": info or {}}
        (tmp / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
        save_tokenizers(tokenizers, tmp / TOKENIZER)


def load_model(directory, device="cpu"):
    """(model in eval mode, tokenizers, DecodeConfig of the run) from an exported model directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NmtError(f"{directory}: model directory not found")
    for name in (WEIGHTS, CONFIG, TOKENIZER):
        if not (directory / name).exists():
            raise NmtError(f"{directory}: incomplete model directory, {name} is missing")
    config_path = directory / CONFIG
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        vocab = {side: config["vocab"][side] for side in ("src", "tgt", "joint")}
        model_cfg, decode_cfg = _read_model_config(config, config_path)
    except KeyError as e:
        raise NmtError(f"{config_path}: invalid model config (no {e} entry)") from None
    except (ValueError, TypeError, AttributeError) as e:
        raise NmtError(f"{config_path}: invalid model config ({e})") from None
    tokenizers = load_tokenizers(directory / TOKENIZER)
    if (tokenizers.src.vocab_size, tokenizers.tgt.vocab_size) != (vocab["src"], vocab["tgt"]):
        raise NmtError(f"{directory}: tokenizer vocabulary does not match the model's")
    _check_shapes(directory / WEIGHTS, parameter_shapes(model_cfg, vocab["src"], vocab["tgt"], vocab["joint"]))
    model = build_model(model_cfg, vocab["src"], vocab["tgt"], vocab["joint"])
    try:
        safetensors.torch.load_model(model, str(directory / WEIGHTS), strict=True, device=str(device))
    except (RuntimeError, OSError, safetensors.SafetensorError) as e:
        raise NmtError(f"{directory / WEIGHTS}: weights do not fit the model ({one_line(e)})") from None
    return model.to(device).eval(), tokenizers, decode_cfg


def model_languages(directory):
    """(source, target) language codes that the model directory's training recorded, or None."""
    try:
        info = json.loads((Path(directory) / CONFIG).read_text(encoding="utf-8")).get("info", {})
    except (OSError, ValueError, AttributeError):
        return None
    languages = info.get("languages") if isinstance(info, dict) else None
    return tuple(languages) if isinstance(languages, list) and len(languages) == 2 else None


def _read_model_config(config, path):
    """(model section, decode section) of a config.json of any format this version reads."""
    written = config.get("format")
    if written not in (1, FORMAT):
        by = config.get("nmt_version", "an unknown version of nmt")
        raise NmtError(f"{path}: written by nmt {by} in config format {written!r}; this nmt "
                       f"{__version__} reads formats 1 to {FORMAT}: upgrade nmt (pip install -U nmt)")
    sections = {"model": config["model"], "decode": config.get("decode", {})}
    if written == 1:  # nmt 0.1
        sections = upgrade(sections)
    try:
        cfg = validate(sections, ExperimentConfig)
    except NmtError as e:
        raise NmtError(f"{path}: invalid model config ({e})") from None
    return cfg.model, cfg.decode


def _check_shapes(weights, expected):
    """Refuse, before anything is allocated, weights whose header disagrees with the config's shapes."""
    try:
        with safetensors.safe_open(str(weights), framework="pt") as f:  # reads the header only
            stored = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except (OSError, safetensors.SafetensorError) as e:
        raise NmtError(f"{weights}: not a readable safetensors file ({one_line(e)})") from None
    shape_of = {name: shape for names, shape in expected for name in names}
    for name, shape in stored.items():
        if name not in shape_of:
            raise NmtError(f"{weights}: tensor {name} is not part of the model that config.json describes")
        if shape_of[name] != shape:
            raise NmtError(f"{weights}: tensor {name} has shape {list(shape)}, but config.json describes "
                           f"{list(shape_of[name])}")
    for names, _ in expected:
        if not stored.keys() & set(names):
            raise NmtError(f"{weights}: tensor {names[0]} is missing, but config.json describes a model with it")
