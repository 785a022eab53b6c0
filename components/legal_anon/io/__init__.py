"""Documents in and out of the command line: sources (txt, jsonl, TAB JSON, Parquet), sinks (text, spans, TAB output, Parquet, review pages)."""
