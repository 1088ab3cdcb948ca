"""The playbook's procedures as commands: each builds a study from a study file, runs it
and reads the answer (``tunebook lr-sweep``)."""
