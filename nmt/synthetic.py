"""Parallel corpora that a trained model writes: `nmt distill` and `nmt backtranslate`.

- Sequence-level knowledge distillation (Kim & Rush 2016): the teacher translates the source side of a
  corpus's training split, and the student's corpus pairs each source line with the teacher's output.
  The other splits are copied as they are, so that the student is validated and tested against real
  references.
- Back-translation (Sennrich et al. 2016): a model of the reverse direction translates target-side
  monolingual text; each monolingual line becomes the target of a pair whose source is the model's
  output. Beam search gives the likeliest sources, sampling (Edunov et al. 2018) more varied ones.
  The corpus is written untagged: `data.extra` tags it when it is mixed in (Caswell et al. 2019), so
  that one back-translation serves both tagged and untagged runs.

Output line i is always the translation of input line i (an empty line gives an empty one, which
preprocessing drops with the pair), and every file is written whole or not at all.
"""
import shutil
from pathlib import Path

from nmt import atomic
from nmt.data.corpus import iter_lines
from nmt.errors import NmtError
from nmt.export import model_languages


def languages_of(model_dir, src_lang=None, tgt_lang=None):
    """(source, target) language codes of a model: the flags' where given, else those its export records."""
    recorded = model_languages(model_dir)
    src_lang, tgt_lang = src_lang or (recorded and recorded[0]), tgt_lang or (recorded and recorded[1])
    if not (src_lang and tgt_lang):
        raise NmtError(f"{model_dir}: the model does not record its languages (exported before nmt 0.2); "
                       "give --src-lang and --tgt-lang")
    return src_lang, tgt_lang


def translations(translator, path, chunk_lines, progress):
    """The best translation of each line of `path`, a chunk of lines at a time; `progress(n)` as
    `Translator.translate_nbest` calls it."""
    for nbest in translator.translate_stream(iter_lines(path), chunk_lines, progress):
        yield nbest[0].text + "\n"


def distill(translator, languages, data_dir, out, split="train", chunk_lines=100_000,
            progress=lambda sentences: None):
    """OUT/{split}.{tgt} := the teacher's translations of DATA_DIR/{split}.{src}; the source and every
    other {split}.{lang} file of the two languages are copied. Returns the number of pairs."""
    src_lang, tgt_lang = languages
    data_dir, out = Path(data_dir), Path(out)
    source = data_dir / f"{split}.{src_lang}"
    if out.resolve() == data_dir.resolve():
        raise NmtError(f"--out {out}: is the corpus being distilled; write the student's corpus elsewhere")
    if not source.is_file():
        raise NmtError(f"{source}: file not found (the teacher translates {src_lang} -> {tgt_lang})")
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(data_dir.glob("*.*")):
        if path.suffix[1:] in languages and path.name != f"{split}.{tgt_lang}":
            _copy(path, out / path.name)
    atomic.write_lines(out / f"{split}.{tgt_lang}", translations(translator, source, chunk_lines, progress))
    return sum(1 for _ in iter_lines(source))


def backtranslate(translator, languages, mono, out, split="train", chunk_lines=100_000,
                  progress=lambda sentences: None):
    """OUT/{split}.{model's source} := the monolingual lines, OUT/{split}.{model's target} := their
    translations: pairs for a model of the other direction. Returns the number of pairs."""
    mono_lang, synthetic_lang = languages
    out = Path(out)
    if not Path(mono).is_file():
        raise NmtError(f"--mono {mono}: file not found")
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_lines(out / f"{split}.{synthetic_lang}", translations(translator, mono, chunk_lines, progress))
    _copy(Path(mono), out / f"{split}.{mono_lang}")
    return sum(1 for _ in iter_lines(mono))


def _copy(source, target):
    with atomic.atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
