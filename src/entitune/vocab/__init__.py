"""The vocabulary tool (``entitune vocab plan`` / ``vocab extend``): measure a WordPiece tokenizer on
data and rank the tokens worth adding (``wordpiece``, pure Python over the tokenizer's JSON), then
write an extended checkpoint with embedding rows for them (``extend``)."""
