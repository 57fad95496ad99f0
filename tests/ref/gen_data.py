#!/usr/bin/python3
"""Writes the small data files of tests/test_data.c into tests/data/ (run from the repo root):
IDX files (plain and gzip, every element type, and malformed ones), CSV files (good and
bad), .npy files written by numpy itself (every supported dtype, header versions 1.0, 2.0
and 3.0, and unsupported or malformed ones), and reference values computed by numpy
(tests/data/data_ref.txt, in the fixture format of fixture_io.py).

With Fashion-MNIST installed (Debian package dataset-fashion-mnist), it also writes
tests/data/fashion_mnist_ref.txt: the first training image, the label counts and the pixel
sum of the training set, which test_data checks against nabla's reader.

    /usr/bin/python3 tests/ref/gen_data.py
"""
import gzip
import io
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import FixtureWriter  # noqa: E402

OUT = "tests/data"
FASHION = "/usr/share/datasets/fashion-mnist"


def put(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def gz(data):
    """Deterministic gzip (no name, mtime 0)."""
    b = io.BytesIO()
    with gzip.GzipFile(fileobj=b, mode="wb", mtime=0, filename="", compresslevel=9) as g:
        g.write(data)
    return b.getvalue()


IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
             np.float32: 0x0D, np.float64: 0x0E}


def idx(a):
    a = np.asarray(a)
    code = IDX_CODES[a.dtype.type]
    head = bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def npy(a, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, a)
    else:
        np.lib.format.write_array(b, a, version=version)
    return b.getvalue()


# The arrays of the tests, defined by formulas that test_data.c repeats.
def images_u8():   # 5 images of 3 x 4: value (37 i + 11 j) mod 256
    i = np.arange(5 * 12).reshape(5, 3, 4)
    return ((37 * (i // 12) + 11 * (i % 12)) % 256).astype(np.uint8)


def labels_u8():
    return np.array([3, 0, 2, 2, 1], dtype=np.uint8)


def typed(dt):     # 2 x 3 values k * 1.5 - 4 (integers: k * 3 - 7), k = 0..5
    k = np.arange(6).reshape(2, 3)
    if np.issubdtype(dt, np.integer):
        return (k * 3 - 7).astype(dt) if np.issubdtype(dt, np.signedinteger) else (k * 3).astype(dt)
    return (k * 1.5 - 4).astype(dt)


def main():
    os.makedirs(OUT, exist_ok=True)
    fx = FixtureWriter(os.path.join(OUT, "data_ref.txt"),
                       "reference values for tests/test_data.c, by tests/ref/gen_data.py")

    # ---- IDX ---------------------------------------------------------------------------
    im, lb = images_u8(), labels_u8()
    put("images_u8.idx", idx(im))
    put("labels_u8.idx", idx(lb))
    put("images_u8.idx.gz", gz(idx(im)))
    put("labels_u8.idx.gz", gz(idx(lb)))
    put("images_multi.idx.gz", gz(idx(im)[:20]) + gz(idx(im)[20:]))  # two gzip members
    for dt in (np.int8, np.int16, np.int32, np.float32, np.float64):
        put(f"typed_{np.dtype(dt).name}.idx", idx(typed(dt)))
    put("labels_4.idx", idx(lb[:4]))
    good = idx(im)
    put("idx_truncated.idx", good[:len(good) - 7])
    put("idx_extra.idx", good + b"\0\0\0")
    put("idx_bad_magic.idx", b"\x01\x00" + good[2:])
    put("idx_bad_type.idx", good[:2] + b"\x0a" + good[3:])
    put("idx_zero_dims.idx", b"\0\0\x08\0")
    put("idx_nine_dims.idx", b"\0\0\x08\x09" + struct.pack(">9I", *([1] * 9)) + b"\0")
    put("idx_short.idx", b"\0\0")
    put("idx_short_dims.idx", b"\0\0\x08\x03\0\0\0\x05\0\0")
    # A header that lies: 60000 x 28 x 28 bytes promised, 10 delivered.
    put("idx_lying.idx", b"\0\0\x08\x03" + struct.pack(">3I", 60000, 28, 28) + bytes(10))
    put("idx_lying.idx.gz", gz(b"\0\0\x08\x03" + struct.pack(">3I", 60000, 28, 28) + bytes(10)))
    put("idx_overflow.idx", b"\0\0\x0e\x08" + struct.pack(">8I", *([0xFFFFFFFF] * 8)))
    put("idx_truncated.idx.gz", gz(good)[:30])
    bad = bytearray(gz(good))
    bad[-6] ^= 0xFF  # corrupt the CRC-32 trailer
    put("idx_crc.idx.gz", bytes(bad))
    put("idx_garbage_after.idx.gz", gz(good) + b"junk")

    # ---- .npy ----------------------------------------------------------------------------
    for dt in (np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8):
        put(f"{np.dtype(dt).name}.npy", npy(typed(dt)))
    put("bool.npy", npy(np.array([True, False, True])))
    put("scalar.npy", npy(np.float32(2.5)))
    put("empty.npy", npy(np.zeros((0, 3), np.float32)))
    put("rank3.npy", npy(np.arange(24, dtype=np.int32).reshape(2, 3, 4)))
    put("v2.npy", npy(typed(np.float32), (2, 0)))
    put("v3.npy", npy(typed(np.float32), (3, 0)))
    put("big_endian.npy", npy(typed(np.float32).astype(">f4")))
    put("big_endian_i8.npy", npy(typed(np.int64).astype(">i8")))
    put("fortran.npy", npy(np.asfortranarray(typed(np.float32))))
    put("fortran_1d.npy", npy(np.asfortranarray(np.arange(4, dtype=np.float32))))
    put("complex.npy", npy(np.zeros(3, np.complex64)))
    put("float16.npy", npy(np.zeros(3, np.float16)))
    put("unicode.npy", npy(np.array(["ab", "c"])))
    put("structured.npy", npy(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])))
    put("uint16.npy", npy(np.zeros(2, np.uint16)))
    g = npy(typed(np.float32))
    put("npy_truncated.npy", g[:-5])
    put("npy_extra.npy", g + b"\0")
    put("npy_bad_magic.npy", b"\x93NUMPZ" + g[6:])
    put("npy_bad_version.npy", g[:6] + b"\x04\x00" + g[8:])
    put("npy_lying_hlen.npy", g[:8] + struct.pack("<H", 60000) + g[10:])
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 4), }"
    put("npy_overflow.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr) + 1)
        + hdr.encode() + b"\n")
    hdr = "{'descr': '<f4', 'shape': (2,), }"
    put("npy_missing_key.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr) + 1)
        + hdr.encode() + b"\n" + bytes(8))
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'evil': __import__('os')}"
    put("npy_extra_key.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr) + 1)
        + hdr.encode() + b"\n" + bytes(8))
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,3, }"
    put("npy_bad_shape.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr) + 1)
        + hdr.encode() + b"\n" + bytes(24))
    # npy pairs for a dataset: 6 samples of 2 x 2 floats, labels 0..2
    put("ds_x.npy", npy((np.arange(24, dtype=np.float32) / 4).reshape(6, 2, 2)))
    put("ds_y.npy", npy(np.array([0, 1, 2, 0, 1, 2], dtype=np.int64)))
    put("ds_y5.npy", npy(np.array([0, 1, 2, 0, 1], dtype=np.int64)))
    put("ds_neg.npy", npy(np.array([0, -1, 2, 0, 1, 2], dtype=np.int32)))

    # ---- CSV -----------------------------------------------------------------------------
    iris = ("sepal_length,sepal_width,petal_length,petal_width,species\n"
            "5.1,3.5,1.4,0.2,setosa\n"
            "7.0,3.2,4.7,1.4,versicolor\n"
            "6.3,3.3,6.0,2.5,virginica\n"
            "4.9,3.0,1.4,0.2,setosa\n"
            "\n"
            "6.4,3.2,4.5,1.5,versicolor\n")
    put("iris.csv", iris.encode())
    put("iris_crlf.csv", iris.replace("\n", "\r\n").encode())
    put("quoted.csv", ("\ufeff\"id\",\"the \"\"x\"\" value\", \"name\"\r\n"
                       "1,\"2.5\",\"b, with comma\"\r\n"
                       "2,-1e-3,\"a \"\"quoted\"\"\nname\"\r\n"
                       "3, 4 ,plain\r\n").encode("utf-8"))
    put("int_labels.csv", b"label,a,b\n2,1,2\n0,3,4\n5,5,6\n")
    put("target.csv", b"x1;x2;y\n1;2;0.5\n3;4;-1.25\n")
    put("header_only.csv", b"a,b,label\n")
    put("empty.csv", b"")
    put("bad_cell.csv", b"a,b,label\n1,2,x\n3,abc,y\n")
    put("empty_cell.csv", b"a,b,label\n1,,x\n")
    put("nan_cell.csv", b"a,b,label\n1,NaN,x\n")
    put("ragged.csv", b"a,b,label\n1,2,x\n3,4\n")
    put("too_many.csv", b"a,b,label\n1,2,x,9\n")
    put("unclosed.csv", b"a,b,label\n1,2,\"x\n3,4,y\n")
    put("after_quote.csv", b"a,b,label\n1,\"2\"x,y\n")
    put("huge_value.csv", b"a,b,label\n1,1e39,y\n")
    # Decimal text that is hard to round: long mantissas, big and tiny exponents, halfway
    # cases of float32. The reference is numpy's float(text) -> float32, bit for bit.
    nums = ["0.1", "-0.0", "3.4028234663852886e38", "1.17549435e-38", "1e-45", "7e-46",
            "0.30000000000000004", "123456789012345678901234567890", "1.00000005960464477539",
            "1.0000000596046448", "16777217", "9007199254740993", "4.9406564584124654e-324",
            "2.2250738585072011e-308", "0.000000000000000000000000000000000000001",
            "1e22", "1e23", "123.456e-7", "+5", ".5", "5.", "8.589973e9", "33554435"]
    put("numbers.csv", ("v,label\n" + "".join(f"{s},0\n" for s in nums)).encode())
    fx.add("numbers", np.array([np.float32(float(s)) for s in nums], dtype=np.float32))

    # ---- normalisation references ---------------------------------------------------------
    x = images_u8().reshape(5, 12).astype(np.float64)
    fx.add("u8_mean", x.mean(axis=0))
    fx.add("u8_std", x.std(axis=0))
    fx.add("u8_min", x.min(axis=0))
    fx.add("u8_max", x.max(axis=0))
    fx.add("u8_gmean", [x.mean()])
    fx.add("u8_gstd", [x.std()])
    xf = np.array([[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5],
                   [4.9, 3.0, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5]], dtype=np.float32)
    xf = xf.astype(np.float64)
    fx.add("iris_mean", xf.mean(axis=0))
    fx.add("iris_std", xf.std(axis=0))
    xs = (xf.astype(np.float32) - xf.mean(axis=0).astype(np.float32)) / xf.std(axis=0).astype(np.float32)
    fx.add("iris_standardised", xs.astype(np.float32))
    fx.write()

    # ---- Fashion-MNIST --------------------------------------------------------------------
    if os.path.isdir(FASHION):
        with gzip.open(os.path.join(FASHION, "train-images-idx3-ubyte.gz")) as f:
            tr = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        with gzip.open(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")) as f:
            tl = np.frombuffer(f.read(), np.uint8, offset=8)
        fm = FixtureWriter(os.path.join(OUT, "fashion_mnist_ref.txt"),
                           "Fashion-MNIST training set, by tests/ref/gen_data.py")
        fm.add("first_image", tr[0])
        fm.add("last_image", tr[-1])
        fm.add("first_labels", tl[:20])
        fm.add("label_counts", np.bincount(tl, minlength=10))
        s = int(tr.astype(np.int64).sum())
        fm.add("pixel_sum_hi_lo", [s // 65536, s % 65536])  # exact in float32
        fm.write()
    else:
        print(f"note: {FASHION} not found; fashion_mnist_ref.txt not written")


if __name__ == "__main__":
    main()
