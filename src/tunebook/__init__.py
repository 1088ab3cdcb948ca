"""tunebook."""
