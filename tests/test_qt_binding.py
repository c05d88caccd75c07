"""Guards against a Qt binding that corrupts Python's refcounts: PySide6 6.12.0 on Python 3.11 drops a
reference to True on every signal emit and to None on every void call, so the app aborted with
'Fatal Python error: bool_dealloc' after a few hundred progress signals."""

import subprocess
import sys

SCRIPT = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class Emitter(QObject):
    changed = Signal(float)
e = Emitter()
e.changed.connect(lambda v: None)
before = sys.getrefcount(True), sys.getrefcount(None)
for _ in range(3000):
    e.changed.emit(0.5)
    e.setObjectName("x")
after = sys.getrefcount(True), sys.getrefcount(None)
print(before, after)
assert after[0] >= before[0] - 10 and after[1] >= before[1] - 10, (before, after)
"""


def test_signals_do_not_leak_references_to_builtins():
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
