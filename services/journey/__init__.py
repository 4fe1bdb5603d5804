"""journey service: journeys, campaigns and experiments (versioned definitions, runs, waits)."""
