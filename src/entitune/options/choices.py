"""The values an option may take, where several modules need them: declared here, below every layer
that reads them, so the option declarations (``training``, ``inference``, ``tools``) import no torch
and the networks, backends and readers check the same sets."""
from __future__ import annotations

#: tagging heads: a linear layer, a CRF, a BiLSTM under a CRF
HEADS = ("linear", "crf", "bilstm-crf")
#: how the head reads the encoder: fine-tune it, or freeze it and take the sum or the concatenation
#: of its last four layers
FEATURES = ("finetune", "frozen-sum4", "frozen-concat4")
#: how a classifier pools a window: the [CLS] vector (through the pretrained pooler where the
#: checkpoint has one) or the mean of every token's vector
POOLINGS = ("cls", "mean")
#: class weights of a classifier's loss: none, or n / (classes x count)
CLASS_WEIGHTS = ("none", "balanced")
#: word features a tagger is built with (``auto`` resolves to one of them)
WORD_FEATURES = ("none", "shape", "chars", "shape+chars")
AUTO = "auto"
#: what a run is for; ``auto``: from the training file
TASKS = ("ner", "classify")
TASK_CHOICES = ("auto", *TASKS)
#: tag schemes a tagger learns (predictions are always IOB2)
TRAIN_SCHEMES = ("IOB2", "BIOES")
#: tag schemes a file can be written in
WRITE_SCHEMES = ("IOB1", "IOB2", "BIOES", "BILOU", "IO")
#: ``--precision`` of training: auto (bf16 where the hardware runs it fast) or as asked
TRAIN_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: ``--precision`` of inference
INFERENCE_PRECISIONS = ("auto", "fp32", "bf16")
#: ``--device``: ``auto`` is a CUDA GPU when torch sees one, else the CPU
DEVICES = ("auto", "cpu", "cuda")
#: ``--backend``: ``auto`` is onnx for a directory holding ``model.onnx``, else torch
BACKENDS = ("auto", "torch", "onnx")
#: ``export --quantize``
QUANTIZATIONS = ("none", "int8")
#: ``predict --output``
OUTPUTS = ("jsonl", "conll")
#: ``vocab --unit``: whole words, or single characters (CJK ideographs, Hangul syllables)
UNITS = ("auto", "word", "char", "learned")
#: ``vocab extend --init``: how new embedding rows start
INITS = ("mean", "random")
#: ``split --by``
SPLIT_BY = ("sentence", "document")
#: ``epochs = "auto"``: train until dev stops improving (at most ``max_epochs``)
AUTO_EPOCHS = "auto"
#: patience with ``epochs = "auto"`` when none is given
AUTO_PATIENCE = 3
#: ``context = "auto"`` (NER): this many sub-words of neighbouring sentences per side where the training
#: data comes in several documents (CoNLL ``-DOCSTART-``, JSONL ``doc`` fields), else none. Measured
#: with the bundled MiniLM on CoNLL-2003, 3 epochs, with word features: test entity F1 0.884 -> 0.891
#: (max length 128; 0.890 and 0.893 on two seeds at 256); without word features 0.870 -> 0.874
#: (``bench/results/gpu_h200_sweeps.json``). Not the default: the windows fill up to the max length,
#: so on a 2-core CPU an epoch took 5.8x as long (``bench/results/conll2003_cpu_cost.json``).
AUTO_CONTEXT = 64
#: ``probe_epochs`` None: this many epochs of the head alone on the frozen encoder's vectors before a
#: classifier fine-tunes (linear probe, then fine-tune); a tagger gets none. Measured on the AG News
#: split with the bundled MiniLM, 3 fine-tuning epochs, five seeds: see the benchmarks pages.
CLASSIFY_PROBE_EPOCHS = 3
