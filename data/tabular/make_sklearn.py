#!/usr/bin/python3
"""Writes three scikit-learn datasets as CSV files for nabla's tabular examples
(docs/tabular.md, examples/specs/{iris,linnerud,binary}.spec).

Needs Debian's python3-sklearn (apt-get install python3-sklearn). The files go into
data/tabular/out/ (git-ignored: scikit-learn's data is never committed):

  iris.csv      150 rows, 4 features, `species` (setosa, versicolor, virginica): 3 classes
  linnerud.csv  20 rows, 3 exercise features, 3 regression targets (weight, waist, pulse)
  binary.csv    600 rows from make_classification (seed 7): 4 informative, 2 redundant and
                3 uninformative columns, one categorical-looking string column `colour`
                (red/green/blue, drawn independently of the class) and `target` (no/yes)

Each also gets a fixed train/test split, NAME_train.csv and NAME_test.csv (75 % / 25 %,
seed 0, stratified for the two classification tasks), so that nabla and the scikit-learn
baselines (sklearn_baseline.py) see exactly the same rows.
Usage: python3 data/tabular/make_sklearn.py [OUT_DIR]
"""
import csv
import os
import sys

import numpy as np
from sklearn.datasets import load_iris, load_linnerud, make_classification
from sklearn.model_selection import train_test_split


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def fmt(x):
    return "%.6g" % x


def save(out, name, header, rows, stratify):
    write(os.path.join(out, name + ".csv"), header, rows)
    tr, te = train_test_split(rows, test_size=0.25, random_state=0, stratify=stratify)
    write(os.path.join(out, name + "_train.csv"), header, tr)
    write(os.path.join(out, name + "_test.csv"), header, te)
    print("%s: %d rows (%d train, %d test), columns %s" %
          (name, len(rows), len(tr), len(te), ",".join(header)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "out")
    os.makedirs(out, exist_ok=True)

    iris = load_iris()
    names = [n.replace(" (cm)", "").replace(" ", "_") for n in iris.feature_names]
    species = [iris.target_names[t] for t in iris.target]
    rows = [[fmt(v) for v in x] + [s] for x, s in zip(iris.data, species)]
    save(out, "iris", names + ["species"], rows, species)

    lin = load_linnerud()
    header = [n.lower() for n in lin.feature_names] + [n.lower() for n in lin.target_names]
    rows = [[fmt(v) for v in x] + [fmt(v) for v in y] for x, y in zip(lin.data, lin.target)]
    save(out, "linnerud", header, rows, None)

    X, y = make_classification(n_samples=600, n_features=9, n_informative=4, n_redundant=2,
                               n_repeated=0, n_classes=2, flip_y=0.03, shuffle=False,
                               random_state=7)
    rng = np.random.RandomState(7)
    colour = rng.choice(["red", "green", "blue"], size=len(y))
    header = ["inf%d" % i for i in range(4)] + ["red%d" % i for i in range(2)] + \
             ["noise%d" % i for i in range(3)] + ["colour", "target"]
    labels = ["yes" if t else "no" for t in y]
    rows = [[fmt(v) for v in x] + [c, t] for x, c, t in zip(X, colour, labels)]
    save(out, "binary", header, rows, labels)


if __name__ == "__main__":
    main()
