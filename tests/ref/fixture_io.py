"""Writes fixtures in the text format tests/support/fixture.c reads:
a stream of records `name rank d0 .. d(rank-1) v0 v1 ...`, values as %.9g (exact for f32)."""
import numpy as np


class FixtureWriter:
    def __init__(self, path, comment=""):
        self.path = path
        self.lines = []
        if comment:
            for line in comment.strip().splitlines():
                self.lines.append("# " + line)

    def add(self, name, array, digits=9):
        """digits: significant digits of the values (9, the default, is exact for float32;
        references compared to a tolerance may use fewer to keep the file small)"""
        if hasattr(array, "detach"):
            array = array.detach()
        a = np.asarray(array, dtype=np.float64)
        if hasattr(array, "detach"):
            a = array.detach().cpu().double().numpy()
        a = np.asarray(a, dtype=np.float32)
        head = f"{name} {a.ndim}" + "".join(f" {d}" for d in a.shape)
        fmt = "%%.%dg" % digits
        vals = " ".join(fmt % v for v in a.reshape(-1))
        self.lines.append(head)
        self.lines.append(vals if vals else "")

    def write(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")
