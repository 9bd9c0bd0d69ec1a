from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml

from lamoo_nas.supernet.errors import (
    ArchSpaceMismatchError,
    ArchValidationError,
    SpaceDefinitionError,
)
from lamoo_nas.supernet.space import (
    ArchConfig,
    SearchSpace,
    StageArch,
    available_spaces,
    load_space,
)

PRESETS = ("tiny", "cifar", "ofa_mbv3", "ofa_mbv3_w12")


def test_presets_are_shipped() -> None:
    assert set(PRESETS) <= set(available_spaces())


def test_ofa_preset_matches_once_for_all() -> None:
    space = load_space("ofa_mbv3")
    assert [s.widths for s in space.stages] == [(24,), (40,), (80,), (112,), (160,)]
    assert all(s.depths == (2, 3, 4) and s.kernel_sizes == (3, 5, 7) for s in space.stages)
    assert all(s.expand_ratios == (3.0, 4.0, 6.0) for s in space.stages)
    assert space.first_block.channels == 16
    assert (space.final_expand.channels, space.head.channels) == (960, 1280)
    assert space.resolutions == tuple(range(128, 225, 4))


def test_ofa_w12_preset_is_ofa_mbv3_at_width_1_2() -> None:
    """Every width of ofa_mbv3 times 1.2, rounded as OFA rounds; all else equal."""
    base, wide = load_space("ofa_mbv3").to_dict(), load_space("ofa_mbv3_w12").to_dict()
    assert [s["widths"] for s in wide["stages"]] == [[32], [48], [96], [136], [192]]
    assert (wide["stem"]["channels"], wide["first_block"]["channels"]) == (24, 24)
    assert (wide["final_expand"]["channels"], wide["head"]["channels"]) == (1152, 1536)
    for key in ("stem", "first_block", "final_expand", "head"):
        base[key]["channels"] = wide[key]["channels"]
    for stage, wide_stage in zip(base["stages"], wide["stages"]):
        stage["widths"] = wide_stage["widths"]
    assert {**base, "name": "ofa_mbv3_w12"} == wide


def test_cifar_preset_downsamples_three_times() -> None:
    space = load_space("cifar")
    assert space.stem.stride == 1 and space.resolutions == (32,)
    assert sum(s.stride == 2 for s in space.stages) == 3


@pytest.mark.parametrize("name", PRESETS)
def test_round_trips(name: str) -> None:
    space = load_space(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(200)] + [space.smallest(), space.largest()]
    for arch in archs:
        hash(arch)
        vector = space.encode(arch)
        assert vector.shape == (space.encoding_dim,)
        assert np.all((vector > 0) & (vector < 1))
        assert space.decode(vector) == arch
        text = json.dumps(space.arch_to_json(arch))
        assert space.arch_from_json(text) == arch
    assert len(set(archs)) > 150  # sampling really varies


def test_space_definition_round_trips() -> None:
    space = load_space("tiny")
    again = SearchSpace.from_dict(space.to_dict())
    assert again == space and again.fingerprint == space.fingerprint


def test_sampling_is_seeded() -> None:
    space = load_space("cifar")
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    second = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first == second


def test_extremes_bound_every_choice() -> None:
    space = load_space("tiny")
    small, large = space.smallest(), space.largest()
    for spec, lo, hi in zip(space.stages, small.stages, large.stages):
        assert lo.depth == min(spec.depths) and hi.depth == max(spec.depths)
        assert set(lo.kernel_sizes) == {min(spec.kernel_sizes)}
        assert set(hi.expand_ratios) == {max(spec.expand_ratios)}
    assert small.resolution == min(space.resolutions)


def test_decode_clips_and_ignores_inactive_slots() -> None:
    space = load_space("tiny")
    ones = space.decode(np.ones(space.encoding_dim))
    zeros = space.decode(np.zeros(space.encoding_dim))
    assert ones == space.largest() and zeros == space.smallest()
    arch = space.smallest()
    vector = space.encode(arch)
    vector[2:5] = 0.99  # kernel/expand slots beyond stage 0's depth 1 (slot 2 is block 1)
    vector[1] = 0.01
    assert space.decode(vector).stages[0].depth == 1


def test_mutate_and_crossover_stay_valid() -> None:
    space = load_space("cifar")
    rng = np.random.default_rng(1)
    a, b = space.sample(rng), space.sample(rng)
    for _ in range(50):
        space.validate(space.mutate(a, rng, prob=0.3))
        space.validate(space.crossover(a, b, rng))
    assert space.mutate(a, rng, prob=0.0) == a


def test_invalid_choice_names_field_and_allowed_values() -> None:
    space = load_space("tiny")
    arch = space.largest()
    stage = dataclasses.replace(arch.stages[1], kernel_sizes=(3, 9, 3))
    bad = dataclasses.replace(arch, stages=(arch.stages[0], stage, arch.stages[2]))
    with pytest.raises(ArchValidationError, match=r"stages\[1\]\.kernel_sizes\[1\] is 9.*\[3, 5\]"):
        space.validate(bad)
    with pytest.raises(ArchValidationError, match="resolution 99"):
        space.validate(dataclasses.replace(arch, resolution=99))
    short = dataclasses.replace(arch.stages[0], kernel_sizes=(3,))
    with pytest.raises(ArchValidationError, match="one choice per active block"):
        space.validate(dataclasses.replace(arch, stages=(short, *arch.stages[1:])))


def test_arch_from_another_space_is_rejected() -> None:
    tiny, cifar = load_space("tiny"), load_space("cifar")
    blob = cifar.arch_to_json(cifar.largest())
    with pytest.raises(ArchSpaceMismatchError, match="'cifar', not 'tiny'"):
        tiny.arch_from_json(blob)
    blob["space"] = "tiny"
    with pytest.raises(ArchSpaceMismatchError, match="different definition"):
        tiny.arch_from_json(blob)
    anonymous = {k: v for k, v in blob.items() if k not in ("space", "space_fingerprint")}
    with pytest.raises(ArchSpaceMismatchError, match="5 stages"):
        tiny.arch_from_json(anonymous)
    with pytest.raises(ArchValidationError, match="malformed"):
        tiny.arch_from_json({"resolution": 16})


def _definition() -> dict:
    return load_space("tiny").to_dict()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["stages"][0].update(kernel_sizes=[]), r"stages\[0\]\.kernel_sizes"),
        (lambda d: d["stages"][1].update(depths=[1, 5], max_depth=3), "above the stage's max"),
        (lambda d: d["stages"][2].update(activation="gelu"), "allowed activations: relu, hswish"),
        (lambda d: d["stages"][0].update(kernel_sizes=[3, 4]), "must be odd"),
        (lambda d: d["stages"][0].update(widths=[16, 16]), "repeats"),
        (lambda d: d.update(resolutions={"min": 32, "max": 16}), "empty"),
        (lambda d: d.update(stages=[]), "non-empty `stages:`"),
        (lambda d: d.pop("head"), "`head:`"),
        (lambda d: d["stages"][0].update(se="yes"), "true or false"),
    ],
)
def test_invalid_space_definitions(edit, message: str) -> None:
    definition = _definition()
    edit(definition)
    with pytest.raises(SpaceDefinitionError, match=message):
        SearchSpace.from_dict(definition)


def test_unknown_preset_lists_the_known_ones(tmp_path) -> None:
    with pytest.raises(SpaceDefinitionError, match="tiny"):
        load_space("mobilenet_v9")
    bad = tmp_path / "space.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpaceDefinitionError, match="not valid YAML"):
        load_space(bad)


def test_stage_arch_is_plain_data() -> None:
    arch = ArchConfig(16, (StageArch(1, (3,), (2.0,), 12),))
    assert arch.to_dict() == {
        "resolution": 16,
        "stages": [{"depth": 1, "kernel_sizes": (3,), "expand_ratios": (2.0,), "width": 12}],
    }
    assert str(arch) == "r16|d1w12:k3e2"


def test_preset_fingerprints_are_unchanged_by_the_ops_format() -> None:
    """Checkpoints and arch JSONs store the fingerprint: the presets must keep theirs."""
    expected = {"tiny": "33b7e7f7ebacea65", "cifar": "40d08de8d3e65545",
                "ofa_mbv3": "96eb8ebf316796ba"}  # fmt: skip
    assert {name: load_space(name).fingerprint for name in expected} == expected


def _ops_space(**stage: object) -> dict:
    raw = load_space("nbmacro").to_dict()
    raw["stages"][0].update(stage)
    return raw


def test_ops_form_round_trips_and_validates() -> None:
    space = load_space("nbmacro")
    assert SearchSpace.from_dict(space.to_dict()) == space
    assert space.stages[0].layer_ops(0) == ((0, 0.0), (3, 3.0), (5, 6.0))
    assert space.stages[0].layer_ops(1) == ((3, 3.0), (5, 6.0))
    cases = [
        ({"kernel_sizes": [3]}, "both ops and kernel_sizes"),
        ({"ops": [[3, 3], [3, 3]]}, "repeats an op"),
        ({"ops": [[4, 3]]}, "must be odd"),
        ({"ops": [[3]]}, "pair of a positive integer"),
        ({"ops": "35"}, "non-empty list of pairs"),
        ({"identity": "yes"}, "identity must be true or false"),
    ]
    for update, message in cases:
        with pytest.raises(SpaceDefinitionError, match=message):
            SearchSpace.from_dict(_ops_space(**update))


def test_identity_needs_a_shape_changing_layer_and_the_ops_form() -> None:
    with pytest.raises(SpaceDefinitionError, match="keeps its input's shape"):
        SearchSpace.from_dict(_ops_space(stride=1, widths=[32]))
    raw = load_space("tiny").to_dict()
    raw["stages"][0]["identity"] = True
    with pytest.raises(SpaceDefinitionError, match="needs the ops form"):
        SearchSpace.from_dict(raw)


def test_identity_is_refused_outside_a_stage_first_layer() -> None:
    space = load_space("nbmacro")
    arch = space.largest()
    stage = dataclasses.replace(arch.stages[1], kernel_sizes=(5, 0, 5), expand_ratios=(6, 0, 6))
    bad = dataclasses.replace(arch, stages=(arch.stages[0], stage, arch.stages[2]))
    with pytest.raises(ArchValidationError, match=r"stages\[1\] layer 1 .*only in a stage's first"):
        space.validate(bad)
    pair = dataclasses.replace(arch.stages[0], kernel_sizes=(5, 3), expand_ratios=(3.0, 3.0))
    with pytest.raises(ArchValidationError, match=r"\[5, 3.0\]; allowed"):
        space.validate(dataclasses.replace(arch, stages=(pair, *arch.stages[1:])))


def test_no_first_block_and_no_head_conv_in_yaml() -> None:
    space = load_space("nbmacro")
    assert space.first_block is None and space.head.channels is None
    raw = space.to_dict()
    del raw["first_block"]
    with pytest.raises(SpaceDefinitionError, match="first_block"):
        SearchSpace.from_dict(raw)


def test_batch_encoding_is_the_single_arch_encoding_row_by_row() -> None:
    from lamoo_nas.supernet import _space_encoding

    space = load_space("nbmacro")
    rng = np.random.default_rng(2)
    archs = [space.sample(rng) for _ in range(10)]
    x = _space_encoding.encode_rows(space, archs)
    assert np.array_equal(x, np.stack([space.encode(a) for a in archs]))
    assert _space_encoding.decode_rows(space, x) == archs
    assert _space_encoding.encode_rows(space, []).shape == (0, space.encoding_dim)
    with pytest.raises(ArchValidationError, match=rf"needs \(n, {space.encoding_dim}\)"):
        _space_encoding.decode_rows(space, np.zeros((2, space.encoding_dim + 1)))


# ----------------------------------------------------------------- strictness (issue 17)
def _set(where: str, key: str, value: object):  # type: ignore[no-untyped-def]
    """Edit a dict: ``where`` is ``""`` (the top), a section, or ``stages.i``."""

    def edit(raw: dict) -> None:
        target = raw
        for part in where.split(".") if where else ():
            target = target[int(part)] if part.isdigit() else target[part]
        target[key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("stages.1", "activaton", "relu"), r"'activaton' in stages\[1\].*'activation'"),
        (_set("stages.0", "sqeeze_excite", True), r"'sqeeze_excite' in stages\[0\].*'se'"),
        (_set("", "activaton", "relu"), r"in the top.*'activation' is a key of each stage"),
        (_set("", "sqeeze_excite", True), r"in the top.*'se' is a key of each stage"),
        (_set("head", "drop_out", 0.1), r"'drop_out' in head; did you mean 'dropout'"),
        (_set("stem", "chanels", 16), r"'chanels' in stem; did you mean 'channels'"),
        (_set("", "resolutions", {"min": 8, "max": 16, "stpe": 4}), r"'stpe' in resol.*'step'"),
    ],
)
def test_misspelt_keys_name_the_key_the_place_and_the_nearest_allowed_key(edit, message) -> None:  # type: ignore[no-untyped-def]
    definition = _definition()
    edit(definition)
    with pytest.raises(SpaceDefinitionError, match=message):
        SearchSpace.from_dict(definition)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("stages.1", "max_depth", "four"), r"stages\[1\]\.max_depth must be a pos.*'four'"),
        (_set("stages.1", "max_depth", True), r"max_depth must be a positive integer, got True"),
        (_set("stages.0", "widths", "16"), r"stages\[0\]\.widths must be a non-empty list of ints"),
        (_set("stages.0", "kernel_sizes", "35"), r"kernel_sizes must be a non-empty list"),
        (_set("stages.0", "depths", [True, 2]), r"depths has True"),
        (_set("stages.0", "widths", [16.0]), r"widths has 16.0 \(float\).*integer"),
        (_set("stem", "channels", True), r"stem\.channels must be a positive integer, got True"),
        (_set("head", "dropout", False), r"head\.dropout must be in \[0, 1\), got False"),
        (_set("", "resolutions", {"min": 8, "max": 16.0}), "integer min, max"),
        (_set("", "resolutions", {"min": True, "max": 16}), "integer min, max"),
        (_set("", "stages", "abc"), "non-empty `stages:` list"),
    ],
)
def test_wrong_types_in_a_definition_raise_one_line_errors(edit, message) -> None:  # type: ignore[no-untyped-def]
    definition = _definition()
    edit(definition)
    with pytest.raises(SpaceDefinitionError, match=message) as caught:
        SearchSpace.from_dict(definition)
    assert "\n" not in str(caught.value)


def test_a_misspelt_key_in_a_yaml_file_is_an_error_not_a_default(tmp_path) -> None:
    path = tmp_path / "space.yaml"
    text = yaml.safe_dump(_definition()).replace("activation: relu", "activaton: relu", 1)
    path.write_text(text)
    with pytest.raises(SpaceDefinitionError, match="did you mean 'activation'"):
        load_space(path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: tiny\nstem: {channels: [\n")
    with pytest.raises(SpaceDefinitionError, match="not valid YAML") as caught:
        load_space(broken)
    assert "\n" not in str(caught.value)


def _arch_blob() -> dict:
    space = load_space("tiny")
    return space.arch_to_json(space.largest())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("stages.0", "depth", 1.7), r"stages\[0\]\.depth must be an integer, got 1\.7 \(f"),
        (_set("stages.0", "depth", True), r"stages\[0\]\.depth must be an integer, got True \(b"),
        (_set("stages.1", "kernel_sizes", "353"), r"stages\[1\]\.kernel_sizes must be a list.*str"),
        (_set("stages.1", "kernel_sizes", [3, 5.0, 3]), r"kernel_sizes\[1\] must be an integer"),
        (_set("stages.1", "expand_ratios", [2, True, 2]), r"expand_ratios\[1\] must be a number"),
        (_set("stages.2", "width", "24"), r"stages\[2\]\.width must be an integer, got '24'"),
        (_set("", "resolution", "16"), r"resolution must be an integer, got '16' \(str\)"),
        (_set("", "stages", "all"), r"stages must be a list"),
    ],
)
def test_arch_json_types_are_checked_without_coercion(edit, message) -> None:  # type: ignore[no-untyped-def]
    blob = _arch_blob()
    edit(blob)
    with pytest.raises(ArchValidationError, match=message):
        load_space("tiny").arch_from_json(json.loads(json.dumps(blob)))


def test_load_space_takes_a_preset_name_or_a_yaml_path(tmp_path) -> None:
    path = tmp_path / "mine.yml"
    path.write_text(yaml.safe_dump(load_space("cifar").to_dict()))
    assert load_space(path) == load_space(str(path)) == load_space("cifar")
    with pytest.raises(SpaceDefinitionError, match=r"no space definition file at .*name: \["):
        load_space(tmp_path / "missing.yaml")
    with pytest.raises(SpaceDefinitionError, match="no space definition file"):
        load_space(str(tmp_path / "missing_without_suffix"))
