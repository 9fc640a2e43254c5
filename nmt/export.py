"""The self-contained model directory: safetensors weights, config.json and the tokenizer.

Nothing in it is pickled, so loading a model from a stranger runs none of their code.
"""
import json
from pathlib import Path

import safetensors
import safetensors.torch

from nmt import atomic
from nmt.config import DecodeConfig, ModelConfig, from_dict, to_dict
from nmt.errors import NmtError, one_line
from nmt.models import build_model
from nmt.tokenize import load_tokenizers
from nmt.tokenize.build import save_tokenizers

WEIGHTS, CONFIG, TOKENIZER = "model.safetensors", "config.json", "tokenizer"


def export_model(directory, model, model_cfg, decode_cfg, tokenizers, info=None):
    """Write the model directory whole, replacing any earlier one only once complete."""
    with atomic.atomic_dir(directory) as tmp:
        safetensors.torch.save_model(model, str(tmp / WEIGHTS))  # handles tied (shared) weights
        config = {"format": 1, "model": to_dict(model_cfg), "decode": to_dict(decode_cfg),
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
    try:
        config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
        vocab = {side: config["vocab"][side] for side in ("src", "tgt", "joint")}
        model_cfg = from_dict(config["model"], ModelConfig, "model.")
        decode_cfg = from_dict(config.get("decode", {}), DecodeConfig, "decode.")
    except KeyError as e:
        raise NmtError(f"{directory / CONFIG}: invalid model config (no {e} entry)") from None
    except (ValueError, TypeError, NmtError) as e:
        raise NmtError(f"{directory / CONFIG}: invalid model config ({e})") from None
    tokenizers = load_tokenizers(directory / TOKENIZER)
    if (tokenizers.src.vocab_size, tokenizers.tgt.vocab_size) != (vocab["src"], vocab["tgt"]):
        raise NmtError(f"{directory}: tokenizer vocabulary does not match the model's")
    model = build_model(model_cfg, vocab["src"], vocab["tgt"], vocab["joint"])
    try:
        safetensors.torch.load_model(model, str(directory / WEIGHTS), strict=True, device=str(device))
    except (RuntimeError, OSError, safetensors.SafetensorError) as e:
        raise NmtError(f"{directory / WEIGHTS}: weights do not fit the model ({one_line(e)})") from None
    return model.to(device).eval(), tokenizers, decode_cfg
