"""project.yml as weasel reads it: every dep and output stays one path after interpolation."""
from pathlib import Path

import srsly
from weasel.util import load_project_config

from .conftest import ROOT


def merged_paths(project_dir) -> list:
    """Two adjacent list items that are each only a "${vars...}" reference come out of the
    config interpolation as ONE comma-joined string, so weasel checks a path that does not
    exist ("cannot run: missing dependency"). Compare the raw YAML with what weasel loads."""
    raw = {c["name"]: c for c in srsly.read_yaml(Path(project_dir) / "project.yml")["commands"]}
    loaded = {c["name"]: c for c in load_project_config(project_dir)["commands"]}
    assert set(raw) == set(loaded)
    problems = []
    for name, cmd in loaded.items():
        for key in ("deps", "outputs", "outputs_no_cache"):
            before, after = raw[name].get(key, []), cmd.get(key, [])
            if len(before) != len(after):
                problems.append(f"{name}.{key}: {len(before)} items in project.yml, {len(after)} after interpolation: {after}")
            problems += [f"{name}.{key}: {p!r} looks like merged paths" for p in after if ", " in p]
    return problems


def test_no_command_has_deps_or_outputs_merged_by_the_variable_interpolation():
    problems = merged_paths(ROOT)
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_merge(tmp_path):
    """The check above can fail: two variable-only deps in a row do merge, and it says so."""
    (tmp_path / "project.yml").write_text(
        'vars:\n  a: "x/a.json"\n  b: "x/b.json"\ncommands:\n  - name: "t"\n    script: ["echo"]\n'
        '    deps:\n      - "${vars.a}"\n      - "${vars.b}"\n', encoding="utf8")
    assert load_project_config(tmp_path)["commands"][0]["deps"] == ["x/a.json, x/b.json"]
    assert merged_paths(tmp_path) == [
        "t.deps: 2 items in project.yml, 1 after interpolation: ['x/a.json, x/b.json']",
        "t.deps: 'x/a.json, x/b.json' looks like merged paths",
    ]


def test_workflows_name_existing_commands_and_the_main_job_trains_on_real_judgments():
    config = load_project_config(ROOT)
    names = {c["name"] for c in config["commands"]}
    for workflow, steps in config["workflows"].items():
        assert set(steps) <= names, (workflow, set(steps) - names)
    assert config["vars"]["train_json"].startswith("assets/tab_subset/")
    assert (ROOT / config["vars"]["train_json"]).exists() and (ROOT / config["vars"]["dev_json"]).exists()
    assert "sample-corpus" not in config["workflows"]["all"] and "sample-corpus" in config["workflows"]["demo"]


def test_the_packaged_threshold_is_the_one_the_ablation_chose():
    """configs/bilstm_crf_stacked.cfg's mask_threshold is what docs/ablation.json reports for
    the packaged row: the figures in the docs and meta.json describe what ships."""
    import json

    from spacy.util import load_config

    config = load_config(ROOT / "configs" / "bilstm_crf_stacked.cfg")
    ablation = json.loads((ROOT / "docs" / "ablation.json").read_text(encoding="utf8"))
    packaged = next(r for r in ablation["rows"] if r["id"] == "consistency")
    assert config["components"]["bilstm_crf_ner"]["mask_threshold"] == packaged["mask_threshold"] == ablation["threshold"]
    assert packaged["config"] == "configs/bilstm_crf_stacked.cfg" and packaged["entity_consistency"] is True


def test_the_longer_stacked_schedule_differs_from_the_packaged_config_only_in_epochs():
    from spacy.util import load_config

    packaged = load_config(ROOT / "configs" / "bilstm_crf_stacked.cfg", interpolate=False)
    longer = load_config(ROOT / "configs" / "bilstm_crf_stacked_14ep.cfg", interpolate=False)
    assert (packaged["training"]["max_epochs"], longer["training"]["max_epochs"]) == (7, 14)
    longer["training"]["max_epochs"] = 7
    assert longer == packaged


def test_the_packaged_deep_tagger_differs_from_the_one_layer_config_in_depth_and_threshold_only():
    """0.3.2 ships configs/bilstm_crf_distilled_keep_deep.cfg: the 0.3.x recipe with two BiLSTM
    layers and its own recall threshold, nothing else, so the comparison in
    docs/operating_points.md is of depth alone."""
    from spacy.util import load_config

    project = (ROOT / "project.yml").read_text(encoding="utf8")
    assert 'bilstm_config: "configs/bilstm_crf_distilled_keep_deep.cfg"' in project
    deep = load_config(ROOT / "configs" / "bilstm_crf_distilled_keep_deep.cfg", interpolate=False)
    one = load_config(ROOT / "configs" / "bilstm_crf_distilled_keep.cfg", interpolate=False)
    ner_deep, ner_one = deep["components"]["bilstm_crf_ner"], one["components"]["bilstm_crf_ner"]
    assert (ner_one["model"]["depth"], ner_deep["model"]["depth"]) == (1, 2)
    assert (ner_one["mask_threshold"], ner_deep["mask_threshold"]) == (0.02, 0.03)
    ner_deep["model"]["depth"], ner_deep["mask_threshold"] = 1, 0.02
    assert deep == one
