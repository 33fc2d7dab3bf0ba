"""The model: heads (``heads``), settings (``settings``), the artifact format (``model_dir``) and the
``Tagger`` (encoder + head, a plain ``nn.Module``, in ``tagger``).

This package's ``__init__`` imports nothing, so backends that load an export (``model_dir``,
``heads``) never import the training model.
"""
