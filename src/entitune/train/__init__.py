"""Training: the one loop (``loop.train_loop``) with its settings, optimizer, compact embeddings,
exact checkpoints, distributed data parallelism and logs; ``fit`` runs it for NER (``tagging``),
``fit_classifier`` for text classification (``classifying``), ``fit_masked_lm`` for masked-LM
pretraining (``pretraining``)."""
from .config import PRECISIONS, CheckpointOptions, TrainConfig
from .loop import DevEvaluation, TrainData, train_loop
from .optim import DEFAULT_HEAD_LR, build_optimizer, head_lr_for
from .progress import EpochResult, Evaluation, JsonlLog, Listeners, TensorBoardLog, TrainListener, TrainResult, tensorboard_available
from .classifying import balanced_class_weights, choose_threshold, fit_classifier, probe_head
from .pretraining import fit_masked_lm
from .tagging import fit

__all__ = [
    "balanced_class_weights", "choose_threshold", "fit_classifier", "DEFAULT_HEAD_LR", "PRECISIONS", "CheckpointOptions", "DevEvaluation", "EpochResult", "Evaluation", "JsonlLog", "Listeners",
    "TensorBoardLog", "TrainConfig", "TrainData", "TrainListener", "TrainResult", "build_optimizer", "fit", "fit_masked_lm",
    "head_lr_for", "probe_head", "tensorboard_available", "train_loop",
]
