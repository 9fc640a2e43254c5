"""The decoding state: what a model carries from one decoding step to the next.

A decoder never looks inside a state; it only changes which hypotheses the rows hold, with `reorder`
(beam search: each row continues a row of its own sentence) or `select` (any rows, in any order). The
model files each tensor under one of three kinds, by how a change of rows treats it:

- `source`: computed once from the source, one row per sentence (the Transformer's source mask and
  cross-attention keys/values). The beams of a sentence read its row together; a change of rows never
  copies them, except to drop the sentences that no row reads any more.
- `rows`: one row per hypothesis (the RNN's h and c); moved with every change of rows.
- `history`: what earlier steps wrote (the Transformer's self-attention keys/values). A change of rows
  does not move them: `history_row` composes the changes, and the model gathers those rows at its next
  step, while it copies them into the cache it grows by one position.
"""
from dataclasses import dataclass, field, replace

import torch


@dataclass(frozen=True)
class DecodingState:
    source: dict = field(default_factory=dict)   # name -> (sentences, ...)
    rows: dict = field(default_factory=dict)     # name -> (rows, ...)
    history: dict = field(default_factory=dict)  # name -> (rows of the last step, ...)
    history_row: torch.Tensor = None  # (rows,) the history row each row continues; None: row r continues row r
    # Which source row each row reads. None: beam search's layout, `beams` rows a sentence, sentences in
    # order, so row r reads source row r // beams, known without reading an index back from the device
    # (on a GPU, each read waits for the queued work).
    source_row: torch.Tensor = None
    beams: int = 1

    @property
    def sentences(self):
        return len(next(iter(self.source.values())))

    def reorder(self, index, beams=None):
        """Row r continues row `index[r]`, a row of the same sentence as row r's: beam search's layout kept,
        with `beams` rows a sentence from now on (default: as many as before). Nothing is read from the
        device; sentences that no row reads any more leave."""
        return self._moved(index, beams or self.beams)

    def select(self, index):
        """Row r continues row `index[r]`, whatever its sentence: each row now records its source row."""
        state = self
        if self.source and self.source_row is None:
            layout = torch.arange(self.sentences, device=index.device).repeat_interleave(self.beams)
            state = replace(self, source_row=layout)
        return state._moved(index, 1)

    def source_by_group(self):
        """The source tensors and g such that row r reads their row r // g: in beam search's layout the
        beams of a sentence read one row together (g = beams); otherwise each row gets a copy (g = 1)."""
        if self.source_row is None:
            return self.source, self.beams
        return {name: t.index_select(0, self.source_row) for name, t in self.source.items()}, 1

    def _moved(self, index, beams):
        rows = {name: t.index_select(0, index) for name, t in self.rows.items()}
        history_row = index if self.history_row is None else self.history_row.index_select(0, index)
        source, source_row = self.source, self.source_row
        if source:
            if source_row is None:
                used = index[::beams] // self.beams  # the old sentence of each new one, ascending
            else:
                source_row = source_row.index_select(0, index)
                used = source_row.unique()  # sorted
            if len(used) < self.sentences:
                source = {name: t.index_select(0, used) for name, t in source.items()}
                if source_row is not None:
                    source_row = torch.searchsorted(used, source_row)
        return replace(self, source=source, rows=rows, history_row=history_row if self.history else None,
                       source_row=source_row, beams=beams)
