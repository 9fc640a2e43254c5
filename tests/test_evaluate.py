"""Corpus scores are sacreBLEU's own, in the library and through `nmt evaluate`."""
import json
import random

import pytest
import sacrebleu

from nmt.data.corpus import read_lines
from nmt.errors import NmtError
from nmt.evaluate import format_scores, score_corpus


def _hyps_and_refs(toy_corpus):
    """References from the toy test set; hypotheses are damaged copies (dropped, swapped words),
    one empty and one with characters outside the corpus, so scores lie strictly between 0 and 100."""
    refs = read_lines(toy_corpus / "test.toy")
    rng = random.Random(0)
    hyps = []
    for ref in refs:
        words = ref.split()
        if rng.random() < 0.5 and len(words) > 2:
            del words[rng.randrange(len(words))]
        if rng.random() < 0.5 and len(words) > 2:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        hyps.append(" ".join(words))
    hyps[3] = ""
    hyps[5] = hyps[5] + " Zürich ☃"
    return hyps, refs


def test_scores_equal_sacrebleu_called_directly(toy_corpus):
    hyps, refs = _hyps_and_refs(toy_corpus)
    scores = score_corpus(hyps, refs, ("bleu", "chrf", "ter"))
    metric = sacrebleu.BLEU()
    bleu = metric.corpus_score(hyps, [refs]).score
    assert 0 < bleu < 100
    assert scores["bleu"]["score"] == pytest.approx(bleu, abs=1e-9)
    assert scores["chrf"]["score"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)
    assert scores["ter"]["score"] == pytest.approx(sacrebleu.corpus_ter(hyps, [refs]).score, abs=1e-9)
    assert scores["bleu"]["signature"] == str(metric.get_signature())
    assert "BLEU = " in format_scores(scores) and "CHRF = " in format_scores(scores)


def test_default_metrics_are_bleu_and_chrf(toy_corpus):
    hyps, refs = _hyps_and_refs(toy_corpus)
    assert set(score_corpus(hyps, refs)) == {"bleu", "chrf"}


def test_perfect_and_mismatched_input(toy_corpus):
    refs = read_lines(toy_corpus / "test.toy")
    assert score_corpus(refs, refs)["bleu"]["score"] == pytest.approx(100.0)
    with pytest.raises(NmtError, match="1 hypotheses but 2 references"):
        score_corpus(["a"], ["a", "b"])


def test_cli_evaluate_json_gives_the_same_bleu(toy_corpus, tmp_path, run_cli):
    hyps, refs = _hyps_and_refs(toy_corpus)
    hyp_file, ref_file = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp_file.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    ref_file.write_text("".join(r + "\n" for r in refs), encoding="utf-8")
    result = run_cli("evaluate", "--hyp", hyp_file, "--ref", ref_file, "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["bleu"]["score"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
    assert scores["chrf"]["score"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)


def test_cli_evaluate_refuses_line_count_mismatch(tmp_path, run_cli):
    (tmp_path / "hyp.txt").write_text("a b c\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("a b c\nd e f\n", encoding="utf-8")
    result = run_cli("evaluate", "--hyp", tmp_path / "hyp.txt", "--ref", tmp_path / "ref.txt", "--json")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "1 lines" in result.stderr and "2" in result.stderr
