"""ballast for PyTorch: read a rebalanced manifest, draw from it by its
weights, and load the samples, through libballast (ctypes, no compiled
extension).

    import torch, ballast
    ds = ballast.WeightedDataset("out", size=256, batch_size=16)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for images, captions, labels, weights in loader:
        ...

Everything random comes from the library's sampler (lib/sampler.c): the
same manifest and seed give the same draws as `ballast train`, whatever
the number of DataLoader workers, and ranks of a distributed job draw
disjoint shares of one sequence.  See README.md ("Training in PyTorch").

Classes:
  Manifest          the entries of a manifest: keys, shards, labels,
                    weights (for torch.utils.data.WeightedRandomSampler),
                    where each member's bytes are in its shard
  WeightedDataset   a torch IterableDataset of weighted, seeded, resumable,
                    rank-aware draws, decoded by the library's loader
  MapDataset        a torch map-style Dataset over the entries (index ->
                    sample), for WeightedRandomSampler(Manifest.weights)
"""

import ctypes
import json
import os
import warnings

from . import _clib as C

__all__ = ["Manifest", "Entry", "WeightedDataset", "MapDataset", "BallastError", "collate", "version"]

try:
    import torch
    from torch.utils.data import Dataset as _TorchDataset, IterableDataset as _TorchIterable
except ImportError:  # the Manifest works without torch
    torch = None
    _TorchDataset = _TorchIterable = object


class BallastError(RuntimeError):
    """An error reported by libballast (its message names file and line)."""


def version():
    """The linked library's BALLAST_VERSION_NUMBER (major*10000+minor*100+patch)."""
    return C.version_number()


def _fs(b):
    """Bytes from the library as str: every byte kept (surrogateescape), as
    Python's own os and tarfile modules and json.loads of a manifest line
    give them, so keys and paths compare equal and open the same files."""
    return None if b is None else b.decode("utf-8", "surrogateescape")


def _bytes(s):
    return s if isinstance(s, bytes) else os.fsencode(s)


class Entry:
    """One manifest entry: key, shard (the resolved path), ordinal, offset
    (of the sample's first tar header), weight, labels (a tuple of names)
    and members ({"jpg": (offset, size), "txt": ..., "json": ...}: where
    each member's data bytes are; empty when the manifest does not say).
    For an uncompressed tar, f.seek(offset); f.read(size) gives a member's
    bytes; for a compressed shard the offsets count bytes of the
    decompressed stream."""

    __slots__ = ("index", "key", "shard", "ordinal", "offset", "weight", "labels", "members")

    def __repr__(self):
        return "Entry(%r, shard=%r, weight=%g, labels=%r)" % (self.key, self.shard, self.weight,
                                                              self.labels)


class Manifest:
    """The entries of a manifest (a `ballast rebalance` OUTDIR, or a .jsonl
    of entries), held by the library's sampler.

    len(m), m[i] (an Entry), iteration; m.labels (names), m.weights (per
    entry, manifest order: for WeightedRandomSampler), m.target (each
    label's share of the weight), m.epoch_size (draws an epoch), m.seed,
    m.meta(field) (a scalar of manifest.json), m.read(i, "image"|
    "caption"|"json") (a member's bytes, from a plain tar).

    A manifest whose plan failed its checks (`ballast rebalance` said PLAN
    FAILED and exited 1; manifest.json records "ok": false) is refused with
    BallastError naming them, as `ballast write`, `export` and `train`
    refuse it: fix the policy or its input and rebalance again, or accept
    a risk taken knowingly with the policy's `accept` line.
    allow_failed_plan=True reads it anyway, with a warning (warnings.warn)
    naming the failed checks; m.plan_failed holds that sentence (None for
    a plan that passed, and for a bare .jsonl, which records no verdict).
    A manifest whose lines or record were edited (its verdict against its
    checks among them) is refused whatever allow_failed_plan says.

    The shards are checked against manifest.json's record of them before
    anything is read, as `ballast train --check-shards` does:
    check_shards="auto" (the default: size and SHA-256 up to 1 GiB of
    shards, size and mtime above, the SHA-256 when the mtime changed),
    "full", "quick" or "none" (nothing recorded is compared; a shard must
    still be a regular file).  A shard that changed since the manifest was
    written, or is missing, raises BallastError naming it: its samples
    would be read under the old labels, at the old offsets."""

    def __init__(self, path, allow_failed_plan=False, check_shards="auto", _warned=False):
        self.path = os.fspath(path)
        if check_shards not in C.CHECK_LEVELS:
            raise ValueError("check_shards must be one of auto, full, quick, none, not %r"
                             % (check_shards,))
        err = ctypes.create_string_buffer(1024)
        self._s = C.sampler_open(_bytes(self.path), err, len(err))
        if not self._s:
            raise BallastError(_fs(err.value))
        s = self._s
        self.plan_failed = _fs(C.sampler_plan_failed(s))
        if self.plan_failed is not None and not allow_failed_plan:
            self.close()
            raise BallastError("manifest '%s' is refused: %s (fix the policy or its input and "
                               "rebalance again; or, for a risk taken knowingly, add the policy's "
                               "`accept` line for the check, which makes the plan ok; or pass "
                               "allow_failed_plan=True to use it anyway)"
                               % (self.path, self.plan_failed))
        if self.plan_failed is not None and not _warned:
            warnings.warn("ballast: WARNING: manifest '%s': %s (used anyway: allow_failed_plan=True)"
                          % (self.path, self.plan_failed), stacklevel=3)
        try:
            self._check_shards(check_shards)
        except BallastError:
            self.close()
            raise
        self.labels = [_fs(C.sampler_label(s, i)) for i in range(C.sampler_nlabels(s))]
        self._n = C.sampler_nentries(s)
        self.epoch_size = C.sampler_epoch_size(s)
        self.repeats = bool(C.sampler_repeats(s))
        self.digest = C.sampler_digest(s).decode()
        seed = C.c_uint64(0)
        text = C.sampler_meta(s, b"seed")
        self.seed = seed.value if text is not None and C.seed_parse(text, ctypes.byref(seed)) == 0 else None
        self._weights = None

    def _check_shards(self, level):
        """bl_verify_shards at level: BallastError naming what differs."""
        problems = []
        on_error = C.VerifyCallback(lambda arg, msg: problems.append(_fs(msg)))
        o = C.VerifyOptions()
        o.on_error = on_error
        t = C.VerifyTotals()
        err = ctypes.create_string_buffer(1024)
        rc = C.verify_shards(_bytes(self.path), self._s, C.CHECK_LEVELS[level], ctypes.byref(o),
                             ctypes.byref(t), err, len(err))
        if rc == C.BL_OK:
            return
        if rc != C.BL_FAILED:
            raise BallastError("manifest '%s': %s" % (self.path, _fs(err.value)))
        more = len(problems) - 3
        raise BallastError("manifest '%s': refusing to read the shards: %s: %s%s (rerun ballast "
                           "scan and rebalance, or pass check_shards='none' to read them as "
                           "they are)" % (self.path, _fs(err.value), "; ".join(problems[:3]),
                                          "; and %d more" % more if more > 0 else ""))

    def close(self):
        if getattr(self, "_s", None):
            C.sampler_free(self._s)
            self._s = None

    def __del__(self):
        self.close()

    def __len__(self):
        return self._n

    def _entry(self, i):
        if not 0 <= i < self._n:
            raise IndexError(i)
        return C.sampler_entry(self._s, i).contents

    def __getitem__(self, i):
        if i < 0:
            i += self._n
        e = self._entry(i)
        x = Entry()
        x.index = i
        x.key = _fs(ctypes.string_at(e.key))
        x.shard = _fs(ctypes.string_at(e.shard))
        x.ordinal = e.ordinal
        x.offset = e.offset
        x.weight = e.weight
        x.labels = tuple(self.labels[e.labels[k]] for k in range(e.nlabels))
        x.members = {}
        if e.members:
            m = e.members.contents
            image_ext = _fs(ctypes.string_at(m.image_ext)) if m.image_ext else None
            for ext, span in ((image_ext, m.image), ("txt", m.caption), ("json", m.json)):
                if ext and span.offset >= 0:
                    x.members[ext] = (span.offset, span.size)
        return x

    def __iter__(self):
        for i in range(self._n):
            yield self[i]

    def meta(self, field):
        """A top-level scalar of manifest.json as text, or None."""
        return _fs(C.sampler_meta(self._s, field.encode()))

    @property
    def weights(self):
        """Per-entry weights in manifest order (a list of floats): pass them
        to torch.utils.data.WeightedRandomSampler with a MapDataset."""
        if self._weights is None:
            self._weights = [self._entry(i).weight for i in range(self._n)]
        return self._weights

    @property
    def target(self):
        """Each label's share of the manifest's weight (what draws realise)."""
        w = C.sampler_weight(self._s)
        return {name: C.sampler_label_weight(self._s, i) / w for i, name in enumerate(self.labels)}

    def read(self, i, member="image"):
        """The bytes of entry i's image, caption or json member, read at its
        recorded data offset.  Uncompressed tars only (for a compressed
        shard the offsets count decompressed bytes: use WeightedDataset or
        MapDataset, which stream it)."""
        e = self[i]
        want = {"caption": "txt", "json": "json"}.get(member)
        ext = want or next((x for x in e.members if x not in ("txt", "json")), None)
        if ext not in e.members:
            raise KeyError("entry %d (%s) records no %s member" % (i, e.key, member))
        off, size = e.members[ext]
        with open(e.shard, "rb") as f:
            magic = f.read(6)
            if magic[:2] == b"\x1f\x8b" or magic[:4] == b"\x28\xb5\x2f\xfd" or \
               magic == b"\xfd7zXZ\x00" or magic[:3] == b"BZh":
                raise BallastError("shard '%s' is compressed: its offsets count decompressed bytes"
                                   % e.shard)
            f.seek(off)
            data = f.read(size)
        if len(data) != size:
            raise BallastError("shard '%s': %s member of '%s' cut short" % (e.shard, ext, e.key))
        return data


def _need_torch():
    if torch is None:
        raise ImportError("ballast: this needs PyTorch (import torch failed)")


class _Loader:
    """The library's loader: push (shard, offset, key), pop decoded samples
    in push order."""

    def __init__(self, size, threads, depth, decode):
        o = C.LoaderOptions()
        o.size = size
        o.threads = threads
        o.depth = depth
        o.raw = 0 if decode else 1
        self.size = size
        self.decode = decode
        self._ld = C.loader_new(ctypes.byref(o))
        if not self._ld:
            raise BallastError("cannot start the loader (out of memory?)")

    def close(self):
        if self._ld:
            C.loader_free(self._ld)
            self._ld = None

    def __del__(self):
        self.close()

    def room(self):
        return C.loader_room(self._ld)

    def push(self, entry, tag):
        if C.loader_push(self._ld, entry.shard, entry.offset, entry.key, tag) != 0:
            raise BallastError("loader queue full")

    def pop(self):
        """(tag, image, caption, error): image is a uint8 tensor [3, size,
        size] (decode) or (bytes, ext); error is None or the message."""
        out = ctypes.POINTER(C.Loaded)()
        if C.loader_pop(self._ld, ctypes.byref(out)) != 0:
            return None
        it = out.contents
        if it.status != 0:
            return it.tag, None, None, "%s: %s" % (C.errkind_name(it.errkind).decode(), _fs(it.errmsg))
        caption = ctypes.string_at(it.caption, it.caption_len).decode("utf-8", "replace")
        if self.decode:
            n = self.size * self.size * 3
            pix = bytearray(ctypes.string_at(it.rgb, n))
            image = torch.frombuffer(pix, dtype=torch.uint8).view(self.size, self.size, 3).permute(2, 0, 1)
        else:
            image = (ctypes.string_at(it.image, it.image_len), it.image_ext.decode())
        return it.tag, image, caption, None


class WeightedDataset(_TorchIterable):
    """Weighted, seeded, resumable, rank-aware draws from a manifest, as a
    torch.utils.data.IterableDataset, loaded by libballast.

    manifest     a `ballast rebalance` OUTDIR (or a .jsonl of entries)
    seed         seed of the draws (default: the manifest's, else 0; with
                 resume, the state's: a seed that is not it is refused)
    rank, world  this process is rank `rank` of `world` (distributed
                 training): it draws positions rank, rank+world, ... of the
                 one global sequence, disjoint from the other ranks'
    size         images are decoded (JPEG, PNG), their central square
                 resized to size x size, as uint8 tensors [3, size, size]
    decode       False: images come as (bytes, ext), nothing decoded
    batch_size   None: yield samples (image, caption, labels, weight);
                 batch them with DataLoader(ds, batch_size=B,
                 collate_fn=ballast.collate).
                 B: yield batches (images [b, 3, size, size], captions,
                 labels, weights [b]) made of B consecutive draws; use
                 DataLoader(ds, batch_size=None).  A sample that cannot be
                 read is skipped (with a warning), so a batch may be
                 smaller, but batch i is always draws [iB, iB+B) of this
                 rank, whatever num_workers: the order, and a resume, are
                 exact
    block        draws a DataLoader worker takes in a row (default:
                 batch_size, else 1); workers take blocks in turn, as
                 DataLoader takes their output in turn
    epochs       how many epochs (of round(sum of weights) global draws)
                 to draw, default 1; None: without end
    draws        or: how many draws of this rank (overrides epochs)
    start        this rank's position to start at (see state_after)
    resume       a state (text or path) from state_after or `ballast train
                 --save-state`: start where it stopped, with its seed
    threads      decoding threads per process (default 2)
    keys         True: each sample (batch) also carries its WebDataset key
                 (list of keys), as a fifth element
    allow_failed_plan  True: draw from a manifest whose plan failed its
                 checks, with a warning (see Manifest); by default it is
                 refused with BallastError
    check_shards "auto" (default), "full", "quick" or "none": how the
                 shards are checked against the manifest's record of them
                 when the dataset is made (see Manifest); a shard that
                 changed or is missing raises BallastError

    A sample that cannot be read is skipped with a warning; when every
    sample an iteration drew failed (nothing to yield), it raises
    BallastError instead of ending empty.

    labels are tuples of names; weight is the entry's manifest weight (the
    draws already follow it: do not also scale the loss by it).  Counters
    `drawn` and `failed` are per process.
    """

    def __init__(self, manifest, *, seed=None, rank=0, world=1, size=512, decode=True,
                 batch_size=None, block=None, epochs=1, draws=None, start=0, resume=None,
                 threads=2, keys=False, allow_failed_plan=False, check_shards="auto"):
        _need_torch()
        self.path = os.fspath(manifest)
        self.allow_failed_plan = bool(allow_failed_plan)
        m = Manifest(self.path, self.allow_failed_plan, check_shards)
        self.seed = seed if seed is not None else (m.seed or 0)
        self._seed_given = seed is not None
        self.rank, self.world = int(rank), int(world)
        if not 0 <= self.rank < self.world:
            raise ValueError("rank must be in [0, world)")
        self.size, self.decode, self.threads = int(size), bool(decode), int(threads)
        self.batch_size = batch_size
        self.keys = bool(keys)
        self.block = int(block or batch_size or 1)
        self.labels = m.labels
        self.epoch_size = m.epoch_size
        self.start = int(start)
        if resume is not None:
            self.start = self._restore(m, resume)
        if draws is not None:
            self.end = self.start + int(draws)
        elif epochs is None:
            self.end = None
        else:
            g = int(epochs) * m.epoch_size  # global draws
            mine = (g - self.rank - 1) // self.world + 1 if g > self.rank else 0
            self.end = max(mine, self.start)
        self.drawn = self.failed = 0
        self._m = m  # for state_after; not sent to workers

    def _restore(self, m, resume):
        text = resume
        if not isinstance(text, (str, bytes)) or (isinstance(text, str) and not text.lstrip().startswith("{")):
            with open(resume, "rb") as f:
                text = f.read()
        if isinstance(text, str):
            text = text.encode()
        C.sampler_start(m._s, self.seed, self.rank, self.world)
        err = ctypes.create_string_buffer(1024)
        if C.sampler_state_restore(m._s, text, len(text), None, err, len(err)) != 0:
            raise BallastError("resume: " + _fs(err.value))
        # the draws go on with the state's seed: a seed given with it must
        # be that one (as `ballast train --resume --seed` refuses another)
        seed = C.sampler_seed(m._s)
        if self._seed_given and seed != int(self.seed):
            raise BallastError("resume: saved with seed %d, this dataset has seed=%d (the draws "
                               "go on with the state's seed: drop seed=, or do not resume)"
                               % (seed, self.seed))
        self.seed = seed
        return C.sampler_position(m._s)

    def _open(self):
        # again, in a worker or for state_after: warned and the shards
        # checked once, at __init__ (still regular files: "none")
        return Manifest(self.path, self.allow_failed_plan, "none", _warned=True)

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_m"] = None
        return d

    def __len__(self):
        """Samples (batches with batch_size) this rank yields, failures aside."""
        if self.end is None:
            raise TypeError("an endless WeightedDataset has no length")
        n = self.end - self.start
        return n if self.batch_size is None else -(-n // self.batch_size)

    def position_after(self, batches):
        """This rank's position after `batches` batches (batch_size mode)."""
        return self.start + int(batches) * int(self.batch_size or 1)

    def state_after(self, batches, steps=None):
        """The sampler state after `batches` batches (samples without
        batch_size) as JSON text: pass it back as resume= (or to `ballast
        train --resume`) to continue exactly there."""
        if self._m is None:
            self._m = self._open()
        s = self._m._s
        C.sampler_start(s, self.seed, self.rank, self.world)
        C.sampler_seek(s, self.position_after(batches))
        buf = ctypes.create_string_buffer(512)
        n = C.sampler_state_text(s, int(batches if steps is None else steps), buf, len(buf))
        return buf.raw[:n].decode()

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, nworkers = (info.id, info.num_workers) if info else (0, 1)
        m = self._open()
        s = m._s
        C.sampler_start(s, self.seed, self.rank, self.world)
        C.sampler_split(s, worker, nworkers, self.block)
        C.sampler_seek(s, self.start)
        ld = _Loader(self.size, self.threads, max(16, 2 * self.block), self.decode)
        entry, pos = C.c_size_t(), []
        done = False
        batch, batch_blk = [], None
        drawn = good = held = 0  # this iteration's draws, samples read, empty batches held
        first_error = None
        try:
            while True:
                while not done and ld.room() > 0:
                    if C.sampler_next(s, ctypes.byref(entry), None) != 0:
                        done = True
                        break
                    p = C.sampler_position(s) - 1
                    if self.end is not None and p >= self.end:
                        done = True
                        break
                    e = C.sampler_entry(s, entry.value).contents
                    ld.push(e, entry.value)
                    pos.append(p)
                got = ld.pop()
                if got is None:
                    break
                tag, image, caption, error = got
                p = pos.pop(0)
                self.drawn += 1
                drawn += 1
                e = C.sampler_entry(s, tag).contents
                if error is not None:
                    self.failed += 1
                    first_error = first_error or error
                    warnings.warn("ballast: skipped %s" % error)
                    item = None
                else:
                    good += 1
                    labels = tuple(self.labels[e.labels[k]] for k in range(e.nlabels))
                    item = (image, caption, labels, e.weight)
                    if self.keys:
                        item += (_fs(ctypes.string_at(e.key)),)
                if self.batch_size is None:
                    if item is not None:
                        yield item
                    continue
                blk = p // self.batch_size
                if batch_blk is not None and blk != batch_blk:
                    # empty batches before the first sample read are held:
                    # an iteration where every read fails raises, below
                    if batch or good:
                        for _ in range(held):
                            yield self._collate([])
                        held = 0
                        yield self._collate(batch)
                    else:
                        held += 1
                    batch = []
                batch_blk = blk
                if item is not None:
                    batch.append(item)
            if drawn and not good:
                raise BallastError("manifest '%s': every one of the %d samples drawn failed to "
                                   "load (the first: %s): nothing to train on" % (
                                       self.path, drawn, first_error))
            if self.batch_size is not None and batch_blk is not None:
                for _ in range(held):
                    yield self._collate([])
                yield self._collate(batch)
        finally:
            ld.close()
            m.close()

    def _collate(self, batch):
        if self.decode:
            images = (torch.stack([b[0] for b in batch]) if batch else
                      torch.empty((0, 3, self.size, self.size), dtype=torch.uint8))
        else:
            images = [b[0] for b in batch]
        out = (images, [b[1] for b in batch], [b[2] for b in batch],
               torch.tensor([b[3] for b in batch], dtype=torch.float64))
        return out + ([b[4] for b in batch],) if self.keys else out


def collate(samples):
    """A DataLoader collate_fn for samples of WeightedDataset (without
    batch_size) and MapDataset: images stacked (decoded) or a list of
    (bytes, ext), captions, labels (and keys) as lists, weights a float64
    tensor.  (PyTorch's default collate cannot batch label tuples of
    different lengths.)"""
    _need_torch()
    cols = list(zip(*samples)) if samples else [[], [], [], []]
    images = cols[0]
    if images and isinstance(images[0], torch.Tensor):
        images = torch.stack(list(images))
    else:
        images = list(images)
    out = (images, list(cols[1]), list(cols[2]), torch.tensor(list(cols[3]), dtype=torch.float64))
    return out + tuple(list(c) for c in cols[4:])


class MapDataset(_TorchDataset):
    """The entries of a manifest as a map-style torch Dataset: ds[i] is
    (image, caption, labels, weight) of entry i, loaded by the library
    (decoded to a uint8 tensor [3, size, size], or (bytes, ext) with
    decode=False).  Draw indexes with

        torch.utils.data.WeightedRandomSampler(ds.weights, num_samples)

    (ds.weights: the manifest weights in entry order) and batch with
    DataLoader(ds, sampler=..., batch_size=B, collate_fn=ballast.collate).
    An entry that cannot be read raises BallastError.  A manifest whose
    plan failed its checks is refused unless allow_failed_plan=True, and
    its shards are checked against the manifest's record as check_shards
    says (see Manifest)."""

    def __init__(self, manifest, *, size=512, decode=True, allow_failed_plan=False,
                 check_shards="auto"):
        _need_torch()
        self.path = os.fspath(manifest)
        self.size, self.decode = int(size), bool(decode)
        self.allow_failed_plan = bool(allow_failed_plan)
        self._m = Manifest(self.path, self.allow_failed_plan, check_shards)
        self.weights = self._m.weights
        self.labels = self._m.labels
        self._ld = None
        self._pid = None

    def __len__(self):
        return len(self._m)

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_m"] = d["_ld"] = None
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._m = Manifest(self.path, self.allow_failed_plan, "none", _warned=True)

    def __getitem__(self, i):
        if self._ld is None or self._pid != os.getpid():
            self._ld = _Loader(self.size, 0, 2, self.decode)  # one per process
            self._pid = os.getpid()
        e = self._m._entry(i)
        self._ld.push(e, i)
        tag, image, caption, error = self._ld.pop()
        if error is not None:
            raise BallastError(error)
        return image, caption, tuple(self.labels[e.labels[k]] for k in range(e.nlabels)), e.weight
