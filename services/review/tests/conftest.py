# Makes review_factories importable from this suite's tests (pytest runs in importlib mode).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
