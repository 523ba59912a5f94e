"""Why did the model get it wrong: trace mistakes to coverage gaps, label noise, inconsistent labels, contradictions.

from datamill.diagnose import diagnose, write_report
d = diagnose("eval.jsonl", "train.jsonl", feedback="judgements.jsonl")
print(d.summary())            # how many mistakes each cause explains
write_report(d, "report.html")  # one self-contained page (+ report.json beside it)
"""

from datamill.diagnose.contradictions import DETECTORS, Contradiction, find_contradictions, llm_judge
from datamill.diagnose.core import CAUSES, Diagnosis, Mistake, NoisyTrain, diagnose
from datamill.diagnose.coverage import Cluster, knn
from datamill.diagnose.cross import CrossEncoder, load_cross_encoder
from datamill.diagnose.fixture import PlantedFixture, make_planted, write_planted
from datamill.diagnose.inconsistency import (
    AnnotatorStats,
    ConflictGroup,
    TaskAgreement,
    annotator_agreement,
    conflicting_duplicates,
    overall_agreement,
)
from datamill.diagnose.inputs import (
    EvalItem,
    FeedbackItem,
    TrainItem,
    read_contexts,
    read_feedback,
    read_results,
    read_train,
)
from datamill.diagnose.judge import TeacherJudge
from datamill.diagnose.label_noise import (
    compute_confident_joint,
    find_label_issues,
    knn_pred_probs,
    label_quality_scores,
    neighbour_disagreement,
    output_disagreement,
)
from datamill.diagnose.nli import ContradictionModel, load_contradiction_model
from datamill.diagnose.report import render_html, write_report
from datamill.diagnose.scan import ContradictionScan, scan_contradictions
from datamill.diagnose.stance import StanceModel, load_stance_model

__all__ = [
    "AnnotatorStats",
    "CAUSES",
    "Cluster",
    "ConflictGroup",
    "Contradiction",
    "ContradictionModel",
    "ContradictionScan",
    "CrossEncoder",
    "DETECTORS",
    "Diagnosis",
    "EvalItem",
    "FeedbackItem",
    "Mistake",
    "NoisyTrain",
    "PlantedFixture",
    "StanceModel",
    "TaskAgreement",
    "TeacherJudge",
    "TrainItem",
    "annotator_agreement",
    "compute_confident_joint",
    "conflicting_duplicates",
    "diagnose",
    "find_contradictions",
    "find_label_issues",
    "knn",
    "knn_pred_probs",
    "label_quality_scores",
    "llm_judge",
    "load_contradiction_model",
    "load_cross_encoder",
    "load_stance_model",
    "make_planted",
    "neighbour_disagreement",
    "output_disagreement",
    "overall_agreement",
    "read_contexts",
    "read_feedback",
    "read_results",
    "read_train",
    "render_html",
    "scan_contradictions",
    "write_planted",
    "write_report",
]
