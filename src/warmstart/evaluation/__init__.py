"""Scores for every fine-tuning task (pure numpy) and the tables, plots and JSON that report them."""

from warmstart.evaluation.intervals import mean_and_interval, t_critical

from warmstart.evaluation.metrics import (
    TASK_METRICS,
    accuracy,
    confusion_matrix,
    entity_f1,
    exact_match,
    f1_score,
    mae,
    matthews_corrcoef,
    metrics_for_task,
    mse,
    multilabel_metrics,
    normalize_answer,
    pearson,
    perplexity,
    precision_recall_f1,
    spearman,
    squad_metrics,
    token_accuracy,
)
from warmstart.evaluation.reporting import (
    confusion_matrix_png,
    format_table,
    markdown_table,
    write_metrics_json,
)

__all__ = [
    "TASK_METRICS",
    "accuracy",
    "confusion_matrix",
    "confusion_matrix_png",
    "entity_f1",
    "exact_match",
    "f1_score",
    "format_table",
    "mae",
    "markdown_table",
    "matthews_corrcoef",
    "mean_and_interval",
    "metrics_for_task",
    "mse",
    "multilabel_metrics",
    "normalize_answer",
    "pearson",
    "perplexity",
    "precision_recall_f1",
    "spearman",
    "squad_metrics",
    "t_critical",
    "token_accuracy",
    "write_metrics_json",
]
