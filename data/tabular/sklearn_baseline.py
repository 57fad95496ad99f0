#!/usr/bin/python3
"""scikit-learn baselines on the same train/test split as nabla's example specs
(examples/specs/{iris,linnerud,binary}.spec): the NAME_train.csv / NAME_test.csv files that
make_sklearn.py writes. Features are standardised (StandardScaler, fitted on the training
rows) and `colour` one-hot encoded, as nabla's specs do. Prints one line per model and metric,
computed as nabla's `nabla eval` computes them: accuracy, f1_macro and (binary) roc_auc;
for regression r2 and rmse per target averaged over the targets, mae over all values.
Needs Debian's python3-sklearn. Usage: python3 data/tabular/sklearn_baseline.py [DATA_DIR]
"""
import os
import sys

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, \
    r2_score, roc_auc_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def read(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    return header, rows


def split(header, rows, targets, text=()):
    cols = [c for c in header if c not in targets]
    X = [[r[header.index(c)] if c in text else float(r[header.index(c)]) for c in cols]
         for r in rows]
    y = [[r[header.index(t)] for t in targets] for r in rows]
    return cols, X, y


def prep(cols, text):
    if not text:
        return StandardScaler()
    num = [i for i, c in enumerate(cols) if c not in text]
    cat = [i for i, c in enumerate(cols) if c in text]
    return ColumnTransformer([("num", StandardScaler(), num), ("cat", OneHotEncoder(), cat)])


def classify(d, name, target, text=()):
    header, tr = read(os.path.join(d, name + "_train.csv"))
    _, te = read(os.path.join(d, name + "_test.csv"))
    cols, Xtr, ytr = split(header, tr, [target], text)
    _, Xte, yte = split(header, te, [target], text)
    ytr = [y[0] for y in ytr]
    yte = [y[0] for y in yte]
    if not text:
        Xtr, Xte = np.array(Xtr), np.array(Xte)
    else:
        Xtr, Xte = np.array(Xtr, dtype=object), np.array(Xte, dtype=object)
    models = [("LogisticRegression", LogisticRegression(max_iter=1000)),
              ("MLPClassifier", MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000,
                                              random_state=0))]
    for mname, m in models:
        p = make_pipeline(prep(cols, text), m).fit(Xtr, ytr)
        pred = p.predict(Xte)
        line = "%s %s: %d test samples, accuracy %.4f, f1_macro %.4f" % (
            name, mname, len(yte), accuracy_score(yte, pred), f1_score(yte, pred, average="macro"))
        if len(p.classes_) == 2:
            line += ", roc_auc %.4f" % roc_auc_score(yte, p.predict_proba(Xte)[:, 1])
        print(line)


def regress(d, name, targets):
    header, tr = read(os.path.join(d, name + "_train.csv"))
    _, te = read(os.path.join(d, name + "_test.csv"))
    cols, Xtr, ytr = split(header, tr, targets)
    _, Xte, yte = split(header, te, targets)
    Xtr, Xte = np.array(Xtr), np.array(Xte)
    ytr, yte = np.array(ytr, dtype=float), np.array(yte, dtype=float)
    models = [("Ridge", Ridge(alpha=1.0)),
              ("MLPRegressor", MLPRegressor(hidden_layer_sizes=(16,), max_iter=5000,
                                            random_state=0))]
    for mname, m in models:
        # targets standardised for training and put back, as normalize_targets=standard does
        mu, sd = ytr.mean(axis=0), ytr.std(axis=0)
        p = make_pipeline(StandardScaler(), m).fit(Xtr, (ytr - mu) / sd)
        pred = p.predict(Xte) * sd + mu
        rmse = np.mean(np.sqrt(mean_squared_error(yte, pred, multioutput="raw_values")))
        print("%s %s: %d test samples, r2 %.4f, rmse %.4g, mae %.4g" % (
            name, mname, len(yte), r2_score(yte, pred), rmse, mean_absolute_error(yte, pred)))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "out")
    classify(d, "iris", "species")
    regress(d, "linnerud", ["weight", "waist", "pulse"])
    classify(d, "binary", "target", text=("colour",))


if __name__ == "__main__":
    main()
