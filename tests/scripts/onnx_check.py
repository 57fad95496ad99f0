#!/usr/bin/python3
"""tests/scripts/onnx_check.py MODEL.onnx... — onnx.checker.check_model(full_check=True) on
each file (Debian's python3-onnx); prints one line per file. Exit 3 when onnx cannot be
imported (the test skips then), 1 when a model fails the checker."""
import sys

try:
    import onnx
except Exception as e:  # pragma: no cover - the skip path
    print("onnx is not importable: %s" % e, file=sys.stderr)
    sys.exit(3)

bad = 0
for path in sys.argv[1:]:
    try:
        m = onnx.load(path)
        onnx.checker.check_model(m, full_check=True)
        print("ok %s opset %d ir %d" % (path, m.opset_import[0].version, m.ir_version))
    except Exception as e:
        print("FAIL %s: %s" % (path, e), file=sys.stderr)
        bad = 1
sys.exit(bad)
