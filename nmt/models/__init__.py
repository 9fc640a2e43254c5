from nmt.models.base import Seq2Seq
from nmt.models.build import build_model

__all__ = ["Seq2Seq", "build_model"]
