"""Pre-annotated tasks for Label Studio: what ``select`` writes for the annotators, and the labelling
configuration that reads them.

A task is ``{"data": {"text": ..., "meta": {...}}, "predictions": [{"model_version", "score",
"result": [...]}]}``: the text under ``data.text`` (the ``$text`` of the configuration), the model's
entities as ``labels`` results (character ``start``/``end``, the span's ``text``, its one label and
score), or its class as one ``choices`` result. Label Studio shows the predictions as the starting
annotation; what annotators submit comes back in the project's JSON export under ``annotations``,
which ``entitune train`` reads (``data.annotations``). The names ``label`` (the control) and
``text`` (the object) tie the results to the configuration (``label_config``).
"""
from __future__ import annotations

import html
from collections.abc import Sequence

from ..types import Classification, Prediction

#: the control and object names the results and the configuration share
FROM_NAME, TO_NAME = "label", "text"


def label_config(labels: Sequence[str], task: str) -> str:
    """Label Studio's labelling configuration (XML) for a project with these entity types (``ner``)
    or classes (``classify``).

    >>> print(label_config(["LOC", "PER"], "ner"))
    <View>
      <Labels name="label" toName="text">
        <Label value="LOC"/>
        <Label value="PER"/>
      </Labels>
      <Text name="text" value="$text"/>
    </View>
    """
    values = "\n".join(f'    <{"Label" if task == "ner" else "Choice"} value="{html.escape(x, quote=True)}"/>'
                       for x in labels)
    control = (f'  <Labels name="{FROM_NAME}" toName="{TO_NAME}">\n{values}\n  </Labels>' if task == "ner" else
               f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single">\n{values}\n  </Choices>')
    return f'<View>\n{control}\n  <Text name="{TO_NAME}" value="${TO_NAME}"/>\n</View>'


def entity_task(prediction: Prediction, meta: dict, model_version: str, score: float) -> dict:
    """One NER task: ``prediction``'s text and entities, ``meta`` kept under ``data.meta``."""
    result = [{"id": f"e{k}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
               "value": {"start": e.start, "end": e.end, "text": e.text, "labels": [e.label]},
               "score": round(float(e.score), 6)} for k, e in enumerate(prediction.entities)]
    return {"data": {TO_NAME: prediction.text, "meta": meta},
            "predictions": [{"model_version": model_version, "score": round(float(score), 6), "result": result}]}


def class_task(text: str, answer: Classification, meta: dict, model_version: str, score: float) -> dict:
    """One classification task: the text and the model's class as a ``choices`` prediction."""
    result = [{"id": "c0", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
               "value": {"choices": list(answer.labels or ((answer.label,) if answer.label else ()))},
               "score": round(float(answer.score), 6)}]
    return {"data": {TO_NAME: text, "meta": meta},
            "predictions": [{"model_version": model_version, "score": round(float(score), 6), "result": result}]}
