"""Test configuration: shared helpers importable, and a private rule cache per session."""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
# Test hunts must neither read a developer's rule cache nor write to it.
os.environ.setdefault("LOTLHUNT_CACHE_DIR", tempfile.mkdtemp(prefix="lotlhunt-test-cache-"))
