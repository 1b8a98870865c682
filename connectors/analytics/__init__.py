"""Per-video performance metrics: YouTube Analytics + Reporting adapters and the simulator."""
