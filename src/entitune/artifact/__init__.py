"""The saved-model format, owned in one place: the directory a run writes and ``entitune.load``
reads (``model_dir``: settings file, transformers config, tokenizer, safetensors weights), the
settings themselves (``settings``), the model card (``card``) and the packed archive
(``archive``). ``layout`` (file names, settings, labels) and ``tokenizer`` (the tokenizer through
``tokenizers`` alone) are the parts that need neither torch nor transformers: what loading an export
reads."""
