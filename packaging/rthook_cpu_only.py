"""PyInstaller runtime hook: in the CPU-only bundle, hide every GPU from torch before it is imported.

That bundle carries stand-ins for most CUDA libraries (packaging/cuda_stubs.py); with no visible device torch
never calls them, and the app picks the CPU. The full bundle has no marker file and is left alone.
"""

import os
import sys

if os.path.exists(os.path.join(getattr(sys, "_MEIPASS", ""), "contextfill-cpu-only")):
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
