"""What runs nlp.pipe over many documents: the local engine and the Ray Data engine."""
