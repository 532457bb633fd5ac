"""Seed groups: the runs of one training configuration that differ only in their seed
(what ``train --seeds 0,1,2`` or a sweep produces), recognised from ``meta.json``.

The DVERGE authors warn that random layer sampling makes results vary from run to run;
a seed group lets every analysis report mean ± std over seeds instead of one run's number
(:func:`engine.analyses.run_group` aggregates; this module only finds the groups).

Two checkpoints are in the same group when their :func:`group_key` is equal: method and
its hyperparameters, data set, architecture, members and every training setting, *except*
the seed and what says where or how the run was done rather than what was trained
(``init_from`` paths, device, data directory, the per-epoch monitoring sample counts).
A DVERGE seed trained ``--from`` its own seed's baseline is thus in one group with the
others, whatever directory its baseline lived in.
"""
from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import META, CheckpointError, read_meta

#: where the shipped zoo keeps further seeds of its methods: checkpoints/seeds/<name>/seed<N>
#: (the reproduction report compares the seed-0 entry, checkpoints/<name>)
SEEDS_DIR = "seeds"

#: TrainConfig fields that do not change what is trained (where it ran, how it was monitored)
IGNORED_CONFIG = frozenset({"seed", "init_from", "device", "data_dir", "history_samples", "history_eps",
                            "eval_samples"})


class SeedGroupError(ValueError):
    """A seed group that cannot be formed (message says why and what to do)."""


def group_key(meta: dict) -> str:
    """What must be equal for two checkpoints to be seeds of one configuration (a JSON string).
    Checkpoints without a training config (imported ones) only group with themselves."""
    config = meta.get("config")
    if not isinstance(config, dict):
        return json.dumps({"imported": meta.get("command") or id(meta)}, default=str)
    kept = {k: v for k, v in sorted(config.items()) if k not in IGNORED_CONFIG}
    return json.dumps({"method": meta.get("method"), "method_params": meta.get("method_params") or {},
                       "dataset": meta.get("dataset"), "arch": meta.get("arch"), "members": meta.get("members"),
                       "epoch": meta.get("epoch"), "config": kept}, sort_keys=True, default=str)


def seed_of(checkpoint: str | Path) -> int | None:
    seed = read_meta(checkpoint).get("seed")
    return seed if isinstance(seed, int) else None


def is_group_directory(path: str | Path) -> bool:
    """A directory that is not a checkpoint but holds checkpoints directly (``OUT`` of
    ``train --seeds``: ``OUT/seed0``, ``OUT/seed1``, ...)."""
    path = Path(path)
    return path.is_dir() and not (path / META).is_file() and any((c / META).is_file() for c in path.iterdir()
                                                                   if c.is_dir())


def _checkpoints_under(path: Path) -> list[Path]:
    return sorted(c for c in path.iterdir() if c.is_dir() and (c / META).is_file() and c.name != "pretrain")


def _by_seed(paths: list[Path]) -> list[Path]:
    return sorted(paths, key=lambda p: (seed_of(p) if seed_of(p) is not None else 1 << 30, str(p)))


def group_directory(path: str | Path) -> list[Path]:
    """The checkpoints of a group directory, by seed; every one must have the same
    :func:`group_key` and a different seed, else a :class:`SeedGroupError` naming them."""
    path = Path(path)
    members = _checkpoints_under(path)
    return _check_group(members, f"{path}")


def _check_group(members: list[Path], where: str) -> list[Path]:
    if not members:
        raise SeedGroupError(f"{where} holds no checkpoints")
    keys = {group_key(read_meta(m)) for m in members}
    if len(keys) > 1:
        raise SeedGroupError(f"{where} is not one seed group: its checkpoints differ in more than the seed "
                             f"({', '.join(m.name for m in members)}); give them one by one")
    seeds = [seed_of(m) for m in members]
    if len(set(seeds)) != len(seeds):
        raise SeedGroupError(f"{where} holds two checkpoints with the same seed "
                             f"({', '.join(f'{m.name}: seed {s}' for m, s in zip(members, seeds))})")
    return _by_seed(members)


def find_group(checkpoint: str | Path, candidates: list[str | Path]) -> list[Path]:
    """``checkpoint``'s seed group among ``candidates`` (itself included, one checkpoint per
    seed: the first found wins), ordered by seed."""
    checkpoint = Path(checkpoint)
    key = group_key(read_meta(checkpoint))
    own = seed_of(checkpoint)
    found: dict[int | None, Path] = {own: checkpoint}
    for candidate in candidates:
        candidate = Path(candidate)
        try:
            meta = read_meta(candidate)
        except CheckpointError:
            continue
        seed = meta.get("seed") if isinstance(meta.get("seed"), int) else None
        if seed is not None and seed not in found and group_key(meta) == key:
            found[seed] = candidate
    return _by_seed(list(found.values()))


def expand(path: str | Path, *, group: bool = False, candidates: list[str | Path] | None = None) -> list[Path]:
    """What one command-line / page argument names: a group directory is its seed group;
    with ``group``, a checkpoint is its seed group among ``candidates`` (default: the shipped
    and user zoo plus the checkpoint's sibling directories); otherwise the checkpoint alone."""
    path = Path(path)
    if is_group_directory(path):
        return group_directory(path)
    if not group:
        return [path]
    if candidates is None:
        from .zoo import list_ensembles

        candidates = [e["path"] for e in list_ensembles() if "error" not in e]
        if path.parent.is_dir():
            candidates += [str(p) for p in _checkpoints_under(path.parent)]
    return find_group(path, candidates)


def collapse(entries: list[dict]) -> list[dict]:
    """One entry per seed group of zoo summaries (:func:`engine.zoo.list_ensembles`): the
    lowest seed stands for its group (ties: the first listed), as a copy carrying ``group``
    (every member's path, by seed) and ``seeds`` (their seeds). A group holds one checkpoint
    per seed, as :func:`find_group`: a second run of a seed already there (e.g. a user's rerun
    of a shipped recipe) starts another group, so it stays listed. The order is the order of
    the representatives in ``entries``; unreadable entries and imported checkpoints (no
    training config) stay entries of their own. What the sidebar and the leaderboard list
    by default, so that ``checkpoints/seeds/<name>/seed<N>`` do not crowd the lists.
    An entry's ``meta`` (the listing's copy of its meta.json) is used as is; only entries
    without one (e.g. ``{"path": ...}``) read theirs."""
    by_key: dict[str, list[list[tuple[int, int | None]]]] = {}
    groups: list[list[tuple[int, int | None]]] = []
    for index, entry in enumerate(entries):
        try:
            meta = None if "error" in entry else entry["meta"] if "meta" in entry else read_meta(entry["path"])
        except CheckpointError:
            meta = None
        if meta is None or not isinstance(meta.get("config"), dict):
            groups.append([(index, None)])
            continue
        seed = meta.get("seed") if isinstance(meta.get("seed"), int) else None
        candidates = by_key.setdefault(group_key(meta), [])
        group = next((g for g in candidates if seed is not None and seed not in {s for _, s in g}), None)
        if group is None:
            group = []
            candidates.append(group)
            groups.append(group)
        group.append((index, seed))
    representatives = []
    for members in groups:
        members = sorted(members, key=lambda m: (m[1] is None, m[1] or 0, m[0]))
        first = dict(entries[members[0][0]])
        first["group"] = [entries[i]["path"] for i, _ in members]
        first["seeds"] = [seed for _, seed in members]
        representatives.append((members[0][0], first))
    return [entry for _, entry in sorted(representatives, key=lambda r: r[0])]
