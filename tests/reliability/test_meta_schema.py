"""meta.json is untrusted input: one strict schema, checked before anything is built.

Each case damages a valid checkpoint's meta.json one way; ``info`` must end in exit 2 with
the exact message, the zoo listing must show (not fail on) the entry, and no file may
change."""
from __future__ import annotations

import json

import pytest

from .conftest import assert_cli_error, cli, make_checkpoint, matches, read_meta_json, snapshot, write_meta

INVALID = "is not a valid checkpoint description"


def _set(**changes):
    def mutate(meta):
        meta.update(changes)
        return meta
    return mutate


def _drop(key):
    def mutate(meta):
        del meta[key]
        return meta
    return mutate


def _first_member(meta):
    return sorted(n for n in meta["files"] if n.startswith("member_"))[0]


def _bad_hash(meta):
    meta["files"][_first_member(meta)] = "not-a-hash"
    return meta


def _traversal(meta):
    name = _first_member(meta)
    meta["files"]["../evil.safetensors"] = meta["files"].pop(name)
    return meta


def _nest(depth):
    def mutate(meta):
        return json.dumps(meta)[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    return mutate


CASES = [
    ("history-is-a-number", _set(history=5), f"{{meta}} {INVALID} (history: Input should be a valid list)"),
    ("history-entry-a-list", _set(history=[[1]]), f"{{meta}} {INVALID} (history.0: Input should be a valid dictionary)"),
    ("members-1e9", _set(members=10**9), f"{{meta}} {INVALID} (members: Input should be less than or equal to 64)"),
    ("members-a-string", _set(members="three"), f"{{meta}} {INVALID} (members: Input should be a valid integer)"),
    ("members-more-than-files", _set(members=3), f"{{meta}} {INVALID} (meta: Value error, lists 2 member files for 3 members)"),
    ("files-a-list", _set(files=["member_0.e1.safetensors"]), f"{{meta}} {INVALID} (files: Input should be a valid dictionary)"),
    ("file-name-with-path", _traversal, f"{{meta}} {INVALID} (files: Value error, file name '../evil.safetensors' is not a plain file name)"),
    ("hash-not-hex", _bad_hash, f"{{meta}} {INVALID} (files: Value error, the hash of member_0.e1.safetensors is not a SHA-256 hex digest)"),
    ("arch-resnet600002", _set(arch="resnet600002"), f"{{meta}} {INVALID} (arch: Value error, resnet depth 600002 is larger than supported (110))"),
    ("arch-unknown", _set(arch="vgg16"), f"{{meta}} {INVALID} (arch: Value error, unknown architecture 'vgg16'; choose from: lenet5, resnet<6n+2> …)"),
    ("arch-missing", _drop("arch"), f"{{meta}} {INVALID} (arch: Field required)"),
    ("channels-a-string", _set(channels="1"), f"{{meta}} {INVALID} (channels: Input should be a valid integer)"),
    ("num-classes-zero", _set(num_classes=0), f"{{meta}} {INVALID} (num_classes: Input should be greater than or equal to 2)"),
    ("mean-wrong-length", _set(mean=[0.1, 0.2, 0.3]), f"{{meta}} {INVALID} (meta: Value error, mean and std must have one value per channel (1); found 3 and 1)"),
    ("std-zero", _set(std=[0.0]), f"{{meta}} {INVALID} (meta: Value error, std values must be positive)"),
    ("mean-nan", _set(mean=[float("nan")]), f"{{meta}} {INVALID} (mean: Value error, must hold finite numbers)"),
    ("dataset-unknown", _set(dataset="imagenet"), f"{{meta}} {INVALID} (dataset: Value error, Unknown data set 'imagenet'. Choose one of ['cifar10', 'fashion_mnist', 'mnist'] or folder:PATH)"),
    ("epoch-negative", _set(epoch=-1), f"{{meta}} {INVALID} (epoch: Input should be greater than or equal to 0)"),
    ("leaky-relu-a-string", _set(leaky_relu="yes"), f"{{meta}} {INVALID} (leaky_relu: Input should be a valid boolean)"),
    ("method-params-a-string", _set(method_params="eps=0.1"), f"{{meta}} {INVALID} (method_params: Input should be a valid dictionary)"),
    ("huge-string", _set(command="x" * 200_000), "{meta} is malformed: a string of 200000 characters (limit 100000)"),
    ("nested-40", _nest(40), "{meta} is malformed: nested deeper than 32 levels"),
    ("nested-100k", _nest(100_000), "{meta} is malformed: nested deeper than 32 levels"),
    ("format-foreign", _set(format="other/1"), "{meta} is not a robust-ensembles/1 checkpoint (format='other/1')"),
    ("a-json-list", lambda meta: [meta], "{meta} must hold a JSON object, found list"),
    ("not-json", lambda meta: "{not json", "{meta} is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); the checkpoint is damaged"),
    ("empty-file", lambda meta: "", "{meta} is not valid JSON (Expecting value: line 1 column 1 (char 0)); the checkpoint is damaged"),
    ("not-utf8", lambda meta: b"\xff\xfe{}", "{meta} is not valid JSON (…); the checkpoint is damaged"),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_damaged_meta_json_is_one_clear_error_everywhere(tmp_path, capsys, mutate, expected):
    from engine.zoo import list_ensembles

    ck = make_checkpoint(tmp_path / "home" / "ensembles" / "ck")
    write_meta(ck, mutate(read_meta_json(ck)))
    before = snapshot(tmp_path / "home")
    message = expected.format(meta=ck / "meta.json")
    assert_cli_error(cli(capsys, "info", ck, "--json"), message)
    assert_cli_error(cli(capsys, "eval", "history", ck, "--quiet"), message)
    listed = list_ensembles()
    assert [e["name"] for e in listed] == ["ck"] and matches(message, listed[0]["error"])
    assert snapshot(tmp_path / "home") == before


def test_unknown_extra_fields_are_kept_and_the_checkpoint_loads(tmp_path, capsys):
    ck = make_checkpoint(tmp_path / "ck")
    write_meta(ck, dict(read_meta_json(ck), notes={"by": "a colleague"}))
    rc, out, err = cli(capsys, "info", ck, "--json")
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["members"] == 2
