"""The worker's state and how it survives a restart.

One faust table (memory store, rebuilt from its changelog on start) holds, on changelog partition p,
everything of shard p (= partition p of the user-scoped topics):

* key = the user id: ``UserState.to_dict()`` plus ``offset``, the interactions offset last applied to
  that user (orjson);
* key = ``MODEL_KEY_PREFIX`` + shard: a checkpoint of the shard's learned models (pickle, zlib) plus
  ``offset``, the last interactions offset they learned from. The prefix byte 0xFF never occurs in UTF-8,
  so no user id can collide with it.

Written once per processed batch, the model checkpoint before the batch's user records, on the same
partition of the same topic: the producer keeps a partition's order, so a recovered user is never ahead
of its shard's model. At-least-once re-delivers everything after the committed offset; per interaction
at offset o:

* o <= user offset: already applied, skipped;
* user offset < o <= model offset: the model learned it before the crash but the user record did not
  land: the history catches up without the model learning twice;
* otherwise: a new interaction, ``Simulator.observe``.

So the recovered models and histories equal those of a run that never stopped. Checkpointing was chosen
over rebuilding by re-reading the interactions partition: recovery then costs one read of a compacted
changelog instead of re-learning the whole history, and the interactions topic needs no infinite
retention. The pickle lives only in our own changelog, written and read by the same code version.
"""

from __future__ import annotations

import copy
import pickle
import struct
import zlib
from collections.abc import MutableMapping
from dataclasses import dataclass

import orjson

from streamsim.simulator import Simulator, UserState

_MAGIC = b"SSM1"
_HEADER = struct.Struct(">4sq")


def encode_checkpoint(model: object, offset: int) -> bytes:
    return _HEADER.pack(_MAGIC, offset) + zlib.compress(pickle.dumps(model, protocol=5), 1)


def decode_checkpoint(data: bytes) -> tuple[object, int]:
    magic, offset = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError("not a streamsim model checkpoint")
    return pickle.loads(zlib.decompress(data[_HEADER.size:])), offset


@dataclass(slots=True)
class UserEntry:
    state: UserState
    offset: int = -1  # last interactions offset applied to this user

    def to_record(self) -> bytes:
        return orjson.dumps({**self.state.to_dict(), "offset": self.offset})

    @classmethod
    def from_record(cls, data: bytes) -> UserEntry:
        d = orjson.loads(data)
        return cls(UserState.from_dict(d), int(d.get("offset", -1)))


@dataclass(slots=True)
class ShardEntry:
    offset: int = -1  # last interactions offset the shard's model learned from


MODEL_KEY_PREFIX = b"\xffmodel/"


def model_key(shard: int) -> bytes:
    return MODEL_KEY_PREFIX + str(shard).encode()


def user_key(user_id: str) -> bytes:
    return user_id.encode()


class StateStore:
    """In-memory view of the table for the shards this worker owns.

    ``table`` is the faust table (a plain dict in unit tests). Reads go through a cache of live
    ``UserState`` objects, which keep the simulator's per-user row cache warm between decisions;
    ``forget`` drops what belongs to revoked partitions so it is re-read from the recovered table."""

    def __init__(self, sim: Simulator, table: MutableMapping) -> None:
        self.sim = sim
        self.table = table
        self._users: dict[str, UserEntry] = {}
        self._shards: dict[int, ShardEntry] = {}

    def user(self, user_id: str) -> UserEntry:
        e = self._users.get(user_id)
        if e is None:
            rec = self.table.get(user_key(user_id))
            e = UserEntry.from_record(rec) if rec else UserEntry(UserState(user_id))
            self._users[user_id] = e
        return e

    def peek_user(self, user_id: str) -> UserState:
        """The user's state for a decision; an unknown user is not cached (deciding changes nothing)."""
        e = self._users.get(user_id)
        if e is not None:
            return e.state
        if user_key(user_id) not in self.table:
            return UserState(user_id)
        return self.user(user_id).state

    def shard(self, shard: int) -> ShardEntry:
        e = self._shards.get(shard)
        if e is None:
            data = self.table.get(model_key(shard))
            if data:
                model, offset = decode_checkpoint(data)
                self.sim.models[shard] = model
                e = ShardEntry(offset)
            else:
                self.sim.models.pop(shard, None)  # a fresh model from the simulator's factory
                e = ShardEntry(-1)
            self._shards[shard] = e
        return e

    def apply(self, shard: int, offset: int, user_id: str, item_id: str, liked: bool) -> str:
        """Apply the interaction at ``offset`` of partition ``shard`` exactly once; returns what was done:
        ``"observed"``, ``"history"`` (model already had it) or ``"duplicate"``."""
        s = self.shard(shard)
        u = self.user(user_id)
        if offset <= u.offset:
            return "duplicate"
        if offset <= s.offset:
            # the model learned this before a crash: let a scratch copy learn so the history grows
            # exactly as Simulator.observe grows it, and keep the real model untouched
            real = self.sim.model(shard)
            self.sim.models[shard] = copy.deepcopy(real)
            try:
                self.sim.observe(u.state, item_id, liked)
            finally:
                self.sim.models[shard] = real
            u.offset = offset
            return "history"
        self.sim.observe(u.state, item_id, liked)
        u.offset = s.offset = offset
        return "observed"

    def checkpoint(self, shard: int) -> bytes:
        return encode_checkpoint(self.sim.model(shard), self.shard(shard).offset)

    def forget(self, shards: set[int] | None = None) -> None:
        """Drop cached state of ``shards`` (all if None)."""
        if shards is None:
            self._users.clear()
            self._shards.clear()
            return
        for user_id in [u for u in self._users if self.sim.shard_of(u) in shards]:
            del self._users[user_id]
        for shard in shards:
            self._shards.pop(shard, None)
            self.sim.models.pop(shard, None)
