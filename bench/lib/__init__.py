"""What the bench scripts share: the PostgreSQL cluster, a OneMap server's life cycle,
closed-loop load, CPU and memory sampling, statistics and Markdown tables.

The scripts run as ``python bench/<script>.py`` (bench/ first on sys.path), so this
package is imported as ``lib``.
"""

import sys
from pathlib import Path

# the repository root: tests.support (a free port, a live server) and the project's
# own packages
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
