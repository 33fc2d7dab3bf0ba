"""The saved-model format, owned in one place: the directory a run writes and ``entitune.load``
reads (``model_dir``: settings file, transformers config, tokenizer, safetensors weights), the
settings themselves (``settings``), the model card (``card``) and the packed archive
(``archive``). Loading an export reads these without the training model."""
