"""meta.json carries issue #21's operating-points table: means and sds per variant, not the curves."""
from scripts.package_meta import operating_points_summary


def test_operating_points_summary_keeps_the_table_and_drops_the_detail():
    stat = lambda m: {"mean": m, "sd": 0.01, "values": [m - 0.01, m + 0.01]}  # noqa: E731
    table = {
        "dev_json": "dev.json", "seeds": [0, 1], "target_recall": 0.95, "md_words_per_second": 5000.0,
        "command": "python -m scripts.operating_points ...",
        "rows": [{"variant": "distilled", "config": "configs/bilstm_crf_distilled.cfg",
                  "per_seed": [{"threshold_in_sample": 0.02, "curve": [1, 2]}, {"threshold_in_sample": 0.03, "curve": [3]}],
                  "mean_curve": [{"threshold": 0.02}],
                  "stats": {"privacy_token_recall": stat(0.945), "words_per_second": stat(30000.0)}}],
    }
    summary = operating_points_summary(table)
    row = summary["rows"][0]
    assert row["variant"] == "distilled" and row["thresholds_in_sample"] == [0.02, 0.03]
    assert row["privacy_token_recall"] == {"mean": 0.945, "sd": 0.01}
    assert "per_seed" not in row and "mean_curve" not in row and "curve" not in str(summary)
    assert summary["md_words_per_second"] == 5000.0 and summary["table"] == "docs/operating_points.md"
