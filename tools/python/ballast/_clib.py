"""ctypes bindings of the parts of libballast the Python package uses.

The structures mirror lib/ballast.h (bl_span, bl_members, bl_entry,
bl_limits, bl_image_limits, bl_loader_options, bl_loaded,
bl_verify_options, bl_verify_totals, the BL_CHECK_* levels); keep them in
step with it.  The library is found, in order, at $BALLAST_LIB, in the
build directory of the source tree this package sits in
(tools/python/ballast -> build/libballast.so), then by the system's
loader (libballast.so.0, as `make install` puts it).
"""

import ctypes
import ctypes.util
import os

c_int, c_int64, c_uint32, c_uint64 = ctypes.c_int, ctypes.c_int64, ctypes.c_uint32, ctypes.c_uint64
c_size_t, c_double, c_char_p, c_void_p = ctypes.c_size_t, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p
POINTER = ctypes.POINTER

BL_OK, BL_END, BL_WARN, BL_FAILED, BL_FATAL, BL_EUSAGE, BL_ENOMEM = 0, 1, -1, -2, -3, -4, -5
SOVERSION = 0  # the major version this package speaks


class Span(ctypes.Structure):
    _fields_ = [("offset", c_int64), ("size", c_int64)]


# Strings of entries are c_void_p: ctypes would copy a c_char_p field into
# a Python bytes object, and the loader borrows the library's own pointers
# until a sample is popped (read them with ctypes.string_at).
class Members(ctypes.Structure):
    _fields_ = [("caption", Span), ("image", Span), ("json", Span), ("image_ext", c_void_p)]


class Entry(ctypes.Structure):
    _fields_ = [
        ("shard", c_void_p),
        ("key", c_void_p),
        ("ordinal", c_uint64),
        ("offset", c_int64),
        ("weight", c_double),
        ("shard_index", c_uint32),
        ("nlabels", c_int),
        ("labels", POINTER(c_int)),
        ("members", POINTER(Members)),
    ]


class Limits(ctypes.Structure):
    _fields_ = [("max_member", c_int64), ("max_caption", c_int64),
                ("max_path", c_size_t), ("max_members", c_size_t), ("max_keys", c_size_t)]


class ImageLimits(ctypes.Structure):
    _fields_ = [("max_pixels", c_uint64), ("max_bytes", c_size_t), ("max_scans", c_int)]


class LoaderOptions(ctypes.Structure):
    _fields_ = [("size", c_int), ("threads", c_int), ("depth", c_size_t),
                ("limits", Limits), ("image_limits", ImageLimits), ("raw", c_int)]


class Loaded(ctypes.Structure):
    _fields_ = [
        ("tag", c_size_t),
        ("status", c_int),
        ("errkind", c_int),
        ("errmsg", c_char_p),
        ("rgb", POINTER(ctypes.c_ubyte)),
        ("size", c_int),
        ("src_width", c_int),
        ("src_height", c_int),
        ("dec_width", c_int),
        ("dec_height", c_int),
        ("caption", POINTER(ctypes.c_char)),
        ("caption_len", c_size_t),
        ("image", POINTER(ctypes.c_ubyte)),
        ("image_len", c_size_t),
        ("image_ext", c_char_p),
    ]


# bl_verify_options' callbacks: (arg, message)
VerifyCallback = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)


class VerifyOptions(ctypes.Structure):
    _fields_ = [("no_digest", c_int), ("on_error", VerifyCallback), ("arg", c_void_p),
                ("on_plan_failed", VerifyCallback)]


class VerifyTotals(ctypes.Structure):
    _fields_ = [("shards", c_uint64), ("shards_bad", c_uint64), ("digests", c_uint64),
                ("entries", c_uint64), ("entries_bad", c_uint64), ("manifest_bad", c_uint64)]


# bl_verify_shards' levels (BL_CHECK_FULL ... BL_CHECK_AUTO)
CHECK_LEVELS = {"full": 0, "quick": 1, "none": 2, "auto": 3}


def _candidates():
    env = os.environ.get("BALLAST_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "..", "build", "libballast.so")
    found = ctypes.util.find_library("ballast")
    if found:
        yield found
    yield "libballast.so.%d" % SOVERSION


def _load():
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append("%s: no such file" % path)
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
    raise ImportError("ballast: cannot load libballast (set BALLAST_LIB to its path, "
                      "or `make install`): " + "; ".join(errors))


lib = _load()


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


version_number = _fn("bl_version_number", c_int)
if version_number() // 10000 != SOVERSION:
    raise ImportError("ballast: libballast %d is not major version %d" % (version_number(), SOVERSION))

sampler_open = _fn("bl_sampler_open", c_void_p, c_char_p, c_char_p, c_size_t)
sampler_free = _fn("bl_sampler_free", None, c_void_p)
sampler_nentries = _fn("bl_sampler_nentries", c_size_t, c_void_p)
sampler_entry = _fn("bl_sampler_entry", POINTER(Entry), c_void_p, c_size_t)
sampler_nshards = _fn("bl_sampler_nshards", c_size_t, c_void_p)
sampler_nlabels = _fn("bl_sampler_nlabels", c_int, c_void_p)
sampler_label = _fn("bl_sampler_label", c_char_p, c_void_p, c_int)
sampler_weight = _fn("bl_sampler_weight", c_double, c_void_p)
sampler_label_weight = _fn("bl_sampler_label_weight", c_double, c_void_p, c_int)
sampler_repeats = _fn("bl_sampler_repeats", c_int, c_void_p)
sampler_digest = _fn("bl_sampler_digest", c_char_p, c_void_p)
sampler_meta = _fn("bl_sampler_meta", c_char_p, c_void_p, c_char_p)
sampler_plan_failed = _fn("bl_sampler_plan_failed", c_char_p, c_void_p)
sampler_epoch_size = _fn("bl_sampler_epoch_size", c_uint64, c_void_p)
sampler_start = _fn("bl_sampler_start", c_int, c_void_p, c_uint64, c_uint32, c_uint32)
sampler_split = _fn("bl_sampler_split", c_int, c_void_p, c_uint32, c_uint32, c_uint32)
sampler_seek = _fn("bl_sampler_seek", c_int, c_void_p, c_uint64)
sampler_position = _fn("bl_sampler_position", c_uint64, c_void_p)
sampler_seed = _fn("bl_sampler_seed", c_uint64, c_void_p)
sampler_next = _fn("bl_sampler_next", c_int, c_void_p, POINTER(c_size_t), POINTER(c_uint64))
sampler_state_text = _fn("bl_sampler_state_text", c_size_t, c_void_p, c_uint64, c_char_p, c_size_t)
sampler_state_restore = _fn("bl_sampler_state_restore", c_int, c_void_p, c_char_p, c_size_t,
                            POINTER(c_uint64), c_char_p, c_size_t)
seed_parse = _fn("bl_seed_parse", c_int, c_char_p, POINTER(c_uint64))

verify_shards = _fn("bl_verify_shards", c_int, c_char_p, c_void_p, c_int, POINTER(VerifyOptions),
                    POINTER(VerifyTotals), c_char_p, c_size_t)

loader_new = _fn("bl_loader_new", c_void_p, POINTER(LoaderOptions))
loader_room = _fn("bl_loader_room", c_size_t, c_void_p)
loader_pending = _fn("bl_loader_pending", c_size_t, c_void_p)
loader_push = _fn("bl_loader_push", c_int, c_void_p, c_void_p, c_int64, c_void_p, c_size_t)
loader_pop = _fn("bl_loader_pop", c_int, c_void_p, POINTER(POINTER(Loaded)))
loader_free = _fn("bl_loader_free", None, c_void_p)
errkind_name = _fn("bl_errkind_name", c_char_p, c_int)
