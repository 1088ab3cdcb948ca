"""Running trials: local worker slots, crash-isolated trial processes, outcomes."""
