"""Model type name -> constructor, adapting a ModelConfig to plain arguments at this one seam."""
from nmt.models.transformer import Transformer


def _transformer(cfg, src_vocab, tgt_vocab, joint_vocab):
    return Transformer(
        src_vocab, tgt_vocab, d_model=cfg.d_model, heads=cfg.heads,
        encoder_layers=cfg.encoder_layers, decoder_layers=cfg.decoder_layers, ff_size=cfg.ff_size,
        dropout=cfg.dropout, attention_dropout=cfg.attention_dropout, pre_norm=cfg.norm == "pre",
        tie_output=cfg.tie_output, share_embeddings=cfg.tie_source and joint_vocab,
        max_positions=cfg.max_positions)


BUILDERS = {"transformer": _transformer}


def build_model(cfg, src_vocab, tgt_vocab, joint_vocab):
    return BUILDERS[cfg.type](cfg, src_vocab, tgt_vocab, joint_vocab)
