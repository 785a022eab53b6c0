"""Thinc/PyTorch architectures: the CRF, the Char-CNN + BiLSTM encoder, the CRF head on a tok2vec/transformer, the stacked NER features, vectors."""
