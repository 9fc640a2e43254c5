"""Corpus scores of detokenised hypotheses against raw references, by sacreBLEU (nothing hand-written)."""
from sacrebleu.metrics import BLEU, CHRF, TER

from nmt.errors import NmtError

METRICS = {"bleu": BLEU, "chrf": CHRF, "ter": TER}
VALIDATION_METRICS = {"bleu": "BLEU", "chrf": "chrF"}  # the scores validation computes (higher is better), as printed


def score_corpus(hypotheses, references, metrics=("bleu", "chrf")):
    """{metric: {"score": float, "signature": str}} for one reference per hypothesis."""
    if len(hypotheses) != len(references):
        raise NmtError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    results = {}
    for name in metrics:
        metric = METRICS[name]()
        results[name] = {"score": metric.corpus_score(hypotheses, [references]).score,
                         "signature": str(metric.get_signature())}
    return results


def format_scores(results):
    return "\n".join(f"{name.upper()} = {r['score']:.2f}  ({r['signature']})" for name, r in results.items())
