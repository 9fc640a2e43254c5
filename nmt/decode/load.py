"""The model(s) a decoder runs, loaded from exported model directories in the precision asked for.

Shared by `nmt translate` and `nmt serve`, so both decode with the same network.
"""
from nmt.decode.ensemble import Ensemble, check_same_vocabularies
from nmt.decode.precision import cast_weights, quantize_int8
from nmt.export import load_model


def load_for_decoding(directories, device, dtype="fp32", quantize=None):
    """(model, tokenizers, decode settings) of `directories`: one model, or the Ensemble of several.

    `dtype` (fp32 | bf16 | fp16) is the weights' type; `quantize="int8"` makes the linear layers
    dynamic int8 (CPU). The decode settings are the first model's."""
    loaded = [load_model(directory, device) for directory in directories]
    check_same_vocabularies([tokenizers for _, tokenizers, _ in loaded], directories)
    models = [cast_weights(model, dtype, device) for model, _, _ in loaded]
    if quantize == "int8":
        models = [quantize_int8(model, device) for model in models]
    model = models[0] if len(models) == 1 else Ensemble(models)
    return model, loaded[0][1], loaded[0][2]
