#!/usr/bin/python3
"""tests/bench/pil_loader.py - the PIL baseline for tests/bench/loader.sh.

What a PyTorch data loader typically does per sample, on the same JPEGs as
`ballast train`: Image.open, draft() (libjpeg DCT scaling, 1/2, 1/4 or 1/8
only) to the smallest size whose shorter side is still >= SIZE, convert to
RGB, resize the central square to SIZE x SIZE (BILINEAR, which Pillow
antialiases when shrinking), and take the bytes.  The JPEG bytes are read
from the shard into memory first, so the timing is decode + resize + crop
alone (ballast's includes reading each sample from the shard).

    /usr/bin/python3 pil_loader.py SHARD.tar --size 512 --epochs 10 [--procs 2]

Prints one JSON object: images, seconds, images_per_s.
"""
import argparse, io, json, math, multiprocessing, tarfile, time
from PIL import Image


def load(data, size):
    im = Image.open(io.BytesIO(data))
    w, h = im.size
    if w <= h:
        want = (size, math.ceil(size * h / w))
    else:
        want = (math.ceil(size * w / h), size)
    im.draft("RGB", want)
    im = im.convert("RGB")
    w, h = im.size
    s = min(w, h)
    box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    im = im.resize((size, size), Image.BILINEAR, box=box)
    return len(im.tobytes())


def work(args):
    datas, size = args
    return sum(1 for d in datas if load(d, size))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shard")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--procs", type=int, default=1)
    a = ap.parse_args()
    with tarfile.open(a.shard) as t:
        datas = [t.extractfile(m).read() for m in t.getmembers()
                 if m.name.lower().endswith((".jpg", ".jpeg"))]
    jobs = datas * a.epochs
    t0 = time.perf_counter()
    if a.procs > 1:
        chunks = [(jobs[i::a.procs], a.size) for i in range(a.procs)]
        with multiprocessing.Pool(a.procs) as p:
            n = sum(p.map(work, chunks))
    else:
        n = work((jobs, a.size))
    secs = time.perf_counter() - t0
    print(json.dumps({"tool": "pil", "pil": Image.__version__, "size": a.size,
                      "procs": a.procs, "images": n, "seconds": round(secs, 3),
                      "images_per_s": round(n / secs, 1)}))


if __name__ == "__main__":
    main()
