"""`python -m qwen_vehicle.cli ...` is `qwen-vehicle ...`."""
import sys

from . import main

sys.exit(main())
