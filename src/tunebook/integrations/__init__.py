"""Callbacks for the trainers people already use, and exports to the tools they read.

- :mod:`tunebook.integrations.lightning`: ``TunebookCallback`` for Lightning (extra
  ``lightning``);
- :mod:`tunebook.integrations.transformers`: ``TunebookCallback`` for the Hugging Face
  ``Trainer`` (extra ``transformers``);
- :mod:`tunebook.integrations.export`: a study's trials as TensorBoard runs (extra
  ``tensorboard``) or MLflow runs (extra ``mlflow``).

Nothing here is imported by ``import tunebook``; each module imports its framework.
See docs/integrations.md.
"""
