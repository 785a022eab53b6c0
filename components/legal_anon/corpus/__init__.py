"""Raw annotated data -> spaCy corpora: the TAB schema, the tag codec, the converters and their reports, the sample corpus."""
