"""spaCy pipes: the CRF taggers (bilstm_crf_ner, crf_ner), the general NER's spans, the anonymizer and its name grouping."""
