"""Model type name -> constructor, adapting a ModelConfig to plain arguments at this one seam."""
from nmt.models.rnn import RNNModel
from nmt.models.transformer import Transformer


def _transformer(cfg, src_vocab, tgt_vocab, joint_vocab):
    return Transformer(
        src_vocab, tgt_vocab, d_model=cfg.d_model, heads=cfg.heads,
        encoder_layers=cfg.encoder_layers, decoder_layers=cfg.decoder_layers, ff_size=cfg.ff_size,
        dropout=cfg.dropout, attention_dropout=cfg.attention_dropout, pre_norm=cfg.norm == "pre",
        tie_output=cfg.tie_output, share_embeddings=cfg.tie_source and joint_vocab,
        max_positions=cfg.max_positions, reverse_source=cfg.reverse_source)


def _rnn(cfg, src_vocab, tgt_vocab, joint_vocab):
    return RNNModel(
        src_vocab, tgt_vocab, embedding_dim=cfg.embedding_dim, hidden=cfg.rnn_hidden,
        encoder_layers=cfg.rnn_encoder_layers, decoder_layers=cfg.rnn_decoder_layers, attention=cfg.attention,
        input_feeding=cfg.input_feeding, residual=cfg.residual, layer_norm=cfg.layer_norm, dropout=cfg.dropout,
        emb_dropout=cfg.emb_dropout, word_dropout=cfg.word_dropout, tie_output=cfg.tie_output,
        share_embeddings=cfg.tie_source and joint_vocab, init=cfg.init, reverse_source=cfg.reverse_source)


BUILDERS = {"transformer": _transformer, "rnn": _rnn}


def build_model(cfg, src_vocab, tgt_vocab, joint_vocab):
    return BUILDERS[cfg.type](cfg, src_vocab, tgt_vocab, joint_vocab)
