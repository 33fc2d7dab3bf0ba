"""entitune: fine-tune BERT-family encoders for named entity recognition, evaluate, predict.

>>> from entitune import Tagger                                   # doctest: +SKIP
>>> Tagger.load("runs/movie").predict(["films with drew barrymore"])  # doctest: +SKIP
"""
__version__ = "0.1.0"

from .data import Dataset, load_annotated, split_dev
from .errors import ConfigError, DataFormatError, EntituneError, TagSchemeError
from .evaluate import evaluate
from .model import Tagger, TaggerSettings, default_encoder_dir
from .predict import Prediction, Predictor, Tagged
from .train import TrainConfig, TrainResult, fit
from .types import Entity, Sentence, Span

__all__ = [
    "ConfigError", "DataFormatError", "Dataset", "Entity", "EntituneError", "Prediction", "Predictor",
    "Sentence", "Span", "TagSchemeError", "Tagged", "Tagger", "TaggerSettings", "TrainConfig", "TrainResult",
    "__version__", "default_encoder_dir", "evaluate", "fit", "load_annotated", "split_dev",
]
