from __future__ import annotations

import sys

from scalpel_plan.cli import main

sys.exit(main())
