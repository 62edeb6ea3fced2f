# Makes this suite's helpers (resizer_factories, resizer_ssim) importable: pytest runs in
# importlib mode from the repository root, where `tests` names the top-level suite.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
