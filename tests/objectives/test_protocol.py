"""Every objective is an `Objective`: the four things the trainer asks of it, with no probing."""

import pytest
import torch

from warmstart.config import TASKS, ObjectiveSettings
from warmstart.models.bert import BertConfig
from warmstart.models.registry import build_task_model
from warmstart.objectives.base import Objective, real_tokens
from warmstart.objectives.image_classification import ImageClassificationObjective
from warmstart.objectives.text import text_objective
from warmstart.objectives.reconstruction import DenoisingObjective, MaskedImageObjective
from warmstart.objectives.supervised import SUPERVISED_LOGS, SupervisedObjective

OBJECTIVES = [
    text_objective(),
    *(text_objective(ObjectiveSettings(sentence_task=task)) for task in ("nsp", "sop", "contrastive")),
    text_objective(ObjectiveSettings(mlm=False, sentence_task="nsp")),
    DenoisingObjective((0.5,), (0.25,), "mse"), MaskedImageObjective(4, True), ImageClassificationObjective(),
    *(SupervisedObjective(task) for task in TASKS),
]


@pytest.mark.parametrize("objective", OBJECTIVES, ids=lambda o: type(o).__name__ + getattr(o, "task", ""))
def test_every_objective_implements_the_protocol(objective):
    assert isinstance(objective, Objective)
    assert objective.log_names() and len(set(objective.log_names())) == len(objective.log_names())


def test_every_task_names_its_logs():
    assert set(SUPERVISED_LOGS) == set(TASKS)


@pytest.mark.parametrize("task", ["classification", "regression", "token_classification"])
def test_the_supervised_logs_are_the_names_it_declares(task):
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    torch.manual_seed(0)
    model = build_task_model("bert", config, task, 1 if task == "regression" else 3)
    ids = torch.randint(5, 50, (4, 8))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    labels = {"classification": torch.tensor([0, 1, 2, 1]), "regression": torch.rand(4),
              "token_classification": torch.randint(0, 3, (4, 8))}[task]
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids), "labels": labels}
    objective = SupervisedObjective(task)
    assert sorted(objective(model, batch).logs) == sorted(objective.log_names())
    assert objective.tokens(batch) == real_tokens(batch) == 30  # 32 positions, 2 of them padding
